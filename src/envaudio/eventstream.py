"""Events of a stream, each given once, when it is final, and the same as the whole
recording's (events.detect_events over all of it) wherever the recording has a gap.

events.py finds a recording's events from all its frames and windows at once; a frame's
label can depend on runs of frames far from it (a disputed stretch is split at its
largest level jump; a short sound between two others takes the label around it). So a
stream cannot label frames one by one. It can, however, be cut where nothing crosses:

- A frame that is quiet, or that no sure window names, is -1 from the first pass
  (events.initial_labels) to the end: no later step gives it a label.
- A run of more than a window's worth of such frames (a *gap*) stops every step that
  looks across runs: the A-B-A rule looks past at most one short run, the boundary of a
  disputed stretch needs a label on both sides, and events are bridged over 0.5 s at
  most and nested only when they touch.
- The first pass of a frame depends on the windows that cover it and on their levels
  (a window's sound is judged over its own frames), so labels computed over a stretch
  are exact except within two windows of its ends (the windows cut off there, and the
  short runs of windows next to them).

`EventSegmenter` therefore looks for gaps as frames become final, and when one is found,
runs detect_events over the stretch from the previous gap to this one with MARGIN frames
of context on both sides, and gives the events that start between the two cuts: exactly
what detect_events over the whole recording gives there. A stream that never falls
silent or unsure is cut anyway after `max_pending_seconds`, at its quietest point: an
event across such a cut is reported in two parts, and near it the labels may differ from
a whole-recording pass (which for a recording that long would not fit in memory anyway).
"""

from __future__ import annotations

import numpy as np

from .events import Event, EventParams, detect_events, initial_labels

MAX_PENDING_SECONDS = 600.0  # no gap for this long: cut anyway (uploads, <= 600 s, never are)


class EventSegmenter:
    """Feed it, in time order, the windows' starts and probabilities (`add_windows`), how
    far windows are known (`known_until`: no window will start before it), and the
    short-term level of each frame once final (`add_levels`); `update()` returns the
    events that became final, `finish(end_time)` the rest."""

    def __init__(self, labels: list[str], window_seconds: float, p: EventParams,
                 max_pending_seconds: float = MAX_PENDING_SECONDS):
        self.labels, self.L, self.p = labels, float(window_seconds), p
        self.fs = p.frame_seconds
        self.wf = int(round(self.L / self.fs))  # frames in a window
        self.gap = self.wf + 1  # -1 frames that separate (more than a short run's length)
        self.margin = 3 * self.wf + 10  # frames of context beyond a cut
        self.max_pending = max(int(round(max_pending_seconds / self.fs)), 4 * self.margin)
        self.levels = np.zeros(0)  # final levels of frames base, base + 1, ...
        self.base = 0
        self.starts: list[float] = []
        self.probs: list[np.ndarray] = []
        self.known = 0.0  # every window starting before this (s) has been given
        self.cut = 0  # frame: events before it were given
        self.cut_forced = False
        self.seg_from = 0  # frame: where the next stretch's context starts
        self.lab0 = np.zeros(0, dtype=np.int64)  # first-pass labels of frames cut .. scanned
        self.run = 0  # length of the run of -1 ending at frame `looked`
        self.looked = 0  # frames before this were looked at for gaps
        self.next_cut: tuple[int, int, bool] | None = None  # (cut frame, frame the stretch must reach, forced)

    @property
    def n_frames(self) -> int:
        return self.base + len(self.levels)

    @property
    def scanned(self) -> int:
        return self.cut + len(self.lab0)

    @property
    def final_until(self) -> float:
        """Seconds: every event that starts before this has been given."""
        return round(self.cut * self.fs, 3)

    def add_levels(self, levels: np.ndarray) -> None:
        self.levels = np.concatenate([self.levels, np.asarray(levels, dtype=np.float64)])

    def add_windows(self, starts, probs) -> None:
        for s, pr in zip(starts, probs):
            self.starts.append(float(s))
            self.probs.append(np.asarray(pr, dtype=np.float64))
            self.known = max(self.known, float(s))

    def known_until(self, t: float) -> None:
        self.known = max(self.known, float(t))

    # --- the stretch between two cuts -------------------------------------------------

    def _windows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Starts and probabilities of the windows that cover any of frames a .. b."""
        t0, t1 = a * self.fs, b * self.fs
        idx = [i for i, s in enumerate(self.starts) if s + self.L > t0 + 1e-9 and s < t1 - 1e-9]
        if not idx:
            return np.zeros(0), np.zeros((0, len(self.labels)))
        return np.asarray([self.starts[i] for i in idx]), np.stack([self.probs[i] for i in idx])

    def _events(self, a: int, b: int, end_time: float | None = None) -> list[Event]:
        starts, probs = self._windows(a, b)
        if not len(starts):
            return []
        return detect_events(starts, self.L, probs, self.levels[a - self.base:b - self.base], self.labels,
                             self.p, t0=a * self.fs, end_time=end_time)

    def _give(self, events: list[Event], cut: int | None, forced: bool) -> list[Event]:
        """The events of a stretch that lie between the last cut and `cut` (None: the end),
        cut to them where a forced cut splits one."""
        lo = round(self.cut * self.fs, 3)
        hi = None if cut is None else round(cut * self.fs, 3)
        out = []
        for e in events:
            if e.end <= lo + 1e-9 or (hi is not None and e.start >= hi - 1e-9):
                continue
            if (self.cut_forced and e.start < lo) or (forced and hi is not None and e.end > hi):
                e = Event(e.label, max(e.start, lo), e.end if hi is None else min(e.end, hi), e.confidence)
                if e.end - e.start < self.p.min_event_seconds - 1e-9:
                    continue
            out.append(e)
        return out

    # --- finding cuts -----------------------------------------------------------------

    def _scan(self) -> None:
        """First-pass labels of the frames that became final (every window covering them,
        and those windows' levels, known)."""
        by_windows = int(np.floor(self.known / self.fs - 0.5 - 1e-9)) + 1
        upto = min(self.n_frames - self.wf - 2, by_windows)
        a = self.scanned
        if upto <= a:
            return
        lo, hi = max(self.base, a - self.wf - 1), min(self.n_frames, upto + self.wf + 1)
        starts, probs = self._windows(lo, hi)
        if len(starts):
            lab = initial_labels(starts, self.L, probs, self.levels[lo - self.base:hi - self.base], self.p,
                                 lo * self.fs)[5][a - lo:upto - lo]
        else:
            lab = np.full(upto - a, -1)
        self.lab0 = np.concatenate([self.lab0, lab])
        self._look()

    def _look(self) -> None:
        """Find the first gap long enough among the frames scanned and not yet looked at;
        else, past max_pending, a forced cut."""
        if self.next_cut is not None:
            return
        while self.looked < self.scanned:
            self.run = self.run + 1 if self.lab0[self.looked - self.cut] == -1 else 0
            self.looked += 1
            if self.run >= self.gap:
                g0 = self.looked - self.gap
                self.next_cut = (g0 + self.gap // 2, g0 + self.gap + self.margin, False)
                return
        if self.scanned - self.cut > self.max_pending:
            self.next_cut = self._forced_cut()

    def _forced_cut(self) -> tuple[int, int, bool]:
        """Where a stream without gaps is cut: in the longest run of -1 of its later half,
        else at its quietest frame."""
        half = len(self.lab0) // 2
        lab = self.lab0[half:]
        best, best_len, i = None, 0, 0
        while i < len(lab):
            if lab[i] == -1:
                j = i
                while j < len(lab) and lab[j] == -1:
                    j += 1
                if j - i > best_len:
                    best, best_len = i + (j - i) // 2, j - i
                i = j
            else:
                i += 1
        if best is None:
            lv = self.levels[self.cut + half - self.base:self.scanned - self.base]
            best = int(np.argmin(lv))
        c = self.cut + half + best
        return c, c + self.margin, True

    def update(self) -> list[Event]:
        out: list[Event] = []
        while True:
            self._scan()
            if self.next_cut is None:
                return out
            c, reach, forced = self.next_cut
            if self.n_frames < reach or self.known < reach * self.fs:
                return out
            out += self._give(self._events(self.seg_from, reach), c, forced)
            self._advance(c, forced)

    def _advance(self, c: int, forced: bool) -> None:
        """Move the last cut to frame c, forget what the next stretch cannot need."""
        self.lab0 = self.lab0[c - self.cut:]
        self.cut, self.cut_forced, self.next_cut, self.run, self.looked = c, forced, None, 0, c
        self._look()  # the frames already scanned past the cut may hold the next gap
        self.seg_from = max(0, c - self.gap // 2 - self.margin) if not forced else max(0, c - self.margin)
        keep = max(self.base, self.seg_from - 1)
        self.levels = self.levels[keep - self.base:]
        self.base = keep
        t = self.seg_from * self.fs - self.L
        k = next((i for i, s in enumerate(self.starts) if s > t), len(self.starts))
        del self.starts[:k], self.probs[:k]

    def finish(self, end_time: float) -> list[Event]:
        """The events left, the audio ending at `end_time` (s)."""
        out = self.update()
        if self.n_frames > self.seg_from:
            out += self._give(self._events(self.seg_from, self.n_frames, end_time), None, False)
        self.cut = self.n_frames
        return out

    def provisional(self, since: float, now_frames: int | None = None) -> list[Event]:
        """The events of the frames not yet final, as they stand now, from `since` (s) on:
        for a live view (they may still change)."""
        a = max(self.seg_from, int(since / self.fs) - self.margin, self.base)
        b = self.n_frames if now_frames is None else min(self.n_frames, now_frames)
        if b <= a:
            return []
        lo = round(self.cut * self.fs, 3)
        return [e for e in self._events(a, b) if e.end > max(lo, since) + 1e-9]
