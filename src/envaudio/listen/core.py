"""The streaming core: audio chunks in; classified windows, sound levels and final
events out. Files, uploads, the WebSocket stream and `envaudio monitor` all go through it,
so a recording gives the same windows and events whether it arrives whole, in chunks or
live (the chunking changes nothing: resampling, levels, the window grid and the event
rules are each computed the same way on any split of the input).

    listener = Listener(clf, rate=48000)
    for chunk in chunks:
        update = listener.push(chunk)   # windows classified, events now final, levels
    update = listener.finish()          # the rest, the recording's end known

What it keeps is bounded by the window and the events still pending, not by the
recording: a 24-hour file streams through in the memory of a few minutes of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..eventstream import MAX_PENDING_SECONDS, EventSegmenter
from ..events import Event
from ..levels import FrameLevels, LevelMeter
from ..loading import BATCH
from .buffers import Envelope, Resampled

MAX_PUSH_SECONDS = 30.0  # a longer push is taken in pieces of this (bounded memory for a whole waveform)


@dataclass
class Window:
    """One classified analysis window. `coarse`: on the `windows` grid (WINDOW_OVERLAP);
    the others fill in the event grid (EVENT_HOP_SECONDS)."""

    start: float  # seconds
    probs: np.ndarray
    coarse: bool
    features: dict | None = None  # the model's inputs (keep_features, coarse windows only)
    embedding: np.ndarray | None = None  # (embeddings=True, coarse windows only)


@dataclass
class Update:
    """What one push made final."""

    windows: list[Window] = field(default_factory=list)  # in start order
    events: list[Event] = field(default_factory=list)  # final, each given once, in start order
    envelope: np.ndarray = field(default_factory=lambda: np.zeros(0))  # short-term level (dBFS) of frames env0 ...
    env0: int = 0
    levels: FrameLevels = field(default_factory=FrameLevels.empty)  # A-weighted levels of frames frame0 ...
    frame0: int = 0


class Listener:
    """One stream through one classifier. `rate`: the input's sample rate; `batch`: the
    windows classified together (BATCH for files, the fastest; 1 for live audio, the
    soonest); `keep_features`/`embeddings`: keep the coarse windows' model inputs /
    embeddings (analyze --embeddings); `meter`: compute the A-weighted levels."""

    def __init__(self, clf, rate: int, *, batch: int = BATCH, keep_features: bool = False,
                 embeddings: bool = False, meter: bool = True, max_pending_seconds: float = MAX_PENDING_SECONDS):
        s, p = clf.settings, clf.event_params
        self.clf, self.p, self.rate = clf, p, int(rate)
        self.sr = clf.sample_rate
        self.L = clf.window_seconds
        self.batch = max(1, int(batch))
        self.keep_features, self.embeddings = keep_features, embeddings
        rates = {self.sr, *clf.model.sample_rates}
        self.ref = max(rates)  # the grid is laid out at the highest rate (windows.window_grid)
        self.streams = {r: Resampled(self.rate, r) for r in rates}
        self.W = int(round(self.ref * self.L))
        self.n_at = {r: int(round(r * self.L)) for r in rates}
        self.hop_c = max(1, int(round(self.W * (1.0 - s.window_overlap))))
        hop = min(s.event_hop_seconds, self.L)
        self.hop_f = max(1, int(round(self.W * (1.0 - (1.0 - hop / self.L))))) if hop < self.L else None
        self.next_c, self.next_f = 0, 0 if self.hop_f else None
        self.queue: list[list] = []  # [start sample at ref, coarse, fine-only] in start order
        block = max(1, int(round(p.level_block_seconds / p.frame_seconds)))
        self.env = Envelope(self.sr, p.frame_seconds, block)
        self.lv = np.zeros(0)  # final short-term levels of frames lbase ... (the fine windows' filter)
        self.lbase = 0
        self.meter = LevelMeter(self.sr, p.frame_seconds, eager=self.batch == 1) if meter else None
        self.frames_out = 0
        self.segmenter = EventSegmenter(clf.labels, self.L, p, max_pending_seconds)
        self.received = 0  # input samples
        self.seen = 0  # samples at the decode rate given to the envelope and the meter
        self.recent: list[Window] = []  # the last windows classified (the end window may be one)
        self.promote: int | None = None
        self.finished = False

    # --- what it has heard ------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Audio received so far (s)."""
        return self.received / self.rate

    @property
    def level_dbfs(self) -> float:
        """The loudest short-term level so far (events.py's `level_dbfs`)."""
        from ..events import FLOOR_DBFS

        return self.env.loudest if np.isfinite(self.env.loudest) else FLOOR_DBFS

    @property
    def final_until(self) -> float:
        """Every event starting before this (s) has been given."""
        return self.segmenter.final_until

    def provisional_events(self, since: float) -> list[Event]:
        """The events after `final_until` as they stand now (they may still change)."""
        return self.segmenter.provisional(since)

    # --- in ---------------------------------------------------------------------------

    def push(self, x: np.ndarray) -> Update:
        """Mono float32 samples at `rate`; what became final."""
        if self.finished:
            raise RuntimeError("the listener has finished")
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        step = max(1, int(MAX_PUSH_SECONDS * self.rate))
        out = Update(env0=self.env.done, frame0=self.frames_out)
        for i in range(0, len(x), step):
            self._merge(out, self._push(x[i:i + step], last=False))
        return out

    def flush(self) -> Update:
        """Classify the windows waiting for a whole batch now: the input has paused (a
        pipe that is quiet for a while), so waiting for more would only delay the events."""
        up = Update(env0=self.env.done, frame0=self.frames_out)
        if not self.finished:
            self._run(up, last=False, whole_batches=False)
            up.events = self.segmenter.update()
        return up

    def finish(self) -> Update:
        """The end of the audio: the last windows (the one ending at the end), the last
        levels and every event left."""
        out = Update(env0=self.env.done, frame0=self.frames_out)
        self._merge(out, self._push(np.zeros(0, np.float32), last=True))
        return out

    def _push(self, x: np.ndarray, last: bool) -> Update:
        up = Update(env0=self.env.done, frame0=self.frames_out)
        self.received += len(x)
        for st in self.streams.values():
            st.push(x, last=last)
        self._levels(up, last)
        self._schedule(self.streams[self.ref].end, last)
        self._run(up, last)
        self._forget()
        up.events = self.segmenter.finish(self.streams[self.ref].end / self.ref) if last else self.segmenter.update()
        self.finished = last
        return up

    def _levels(self, up: Update, last: bool) -> None:
        """The new samples at the decode rate -> the envelope (events) and the meter."""
        st = self.streams[self.sr]
        new = st.buf[self.seen - st.offset:]
        self.seen = st.end
        env = self.env.push(new) if len(new) else np.zeros(0)
        if last:
            env = np.concatenate([env, self.env.finish()])
        if len(env):
            up.envelope = env
            self.lv = np.concatenate([self.lv, env])
            self.segmenter.add_levels(env)
        if self.meter is not None:
            fr = self.meter.push(new) if len(new) else FrameLevels.empty()
            if last:
                fr = FrameLevels.concat([fr, self.meter.finish()])
            up.levels = fr
            self.frames_out += len(fr)

    # --- the window grid ----------------------------------------------------------------

    def _schedule(self, n: int, last: bool) -> None:
        """Queue the grid's windows whose audio has arrived (and, at the end, the window
        ending at the end, or the one window of audio shorter than a window)."""
        W = self.W
        while True:
            s = min(v for v in (self.next_c, self.next_f) if v is not None)
            if s + W > n:
                break
            coarse, fine = s == self.next_c, self.next_f is not None and s == self.next_f
            if coarse:
                self.next_c += self.hop_c
            if fine:
                self.next_f += self.hop_f
            self.queue.append([s, coarse, not coarse])
        if not last:
            return
        if n <= W:
            if not any(q[0] == 0 for q in self.queue) and self.next_c == 0:
                self.queue.append([0, True, False])
            return
        end = n - W
        add_c = self.next_c - self.hop_c + W < n  # the last coarse window leaves a tail
        add_f = self.next_f is not None and self.next_f - self.hop_f + W < n
        if not (add_c or add_f):
            return
        same = next((q for q in self.queue if q[0] == end), None)
        if same is not None:
            same[1] = same[1] or add_c
            same[2] = not same[1]
        elif add_c and any(w.start == end / self.ref for w in self.recent):
            self.promote = end  # classified already, as an event window
        else:
            self.queue.append([end, add_c, not add_c])

    def _decided(self, q: list, last: bool) -> bool | None:
        """True: classify it; False: a fine window quiet throughout, left out; None: not yet."""
        s = q[0] / self.ref
        fs = self.p.frame_seconds
        for r, st in self.streams.items():
            if not st.done and st.end < int(round(s * r)) + self.n_at[r]:
                return None
        if not q[2]:
            return True
        hi = int(np.ceil((s + self.L) / fs))
        if not last and self.env.done < hi:
            return None
        n = self.env.done
        lo, hi = min(max(int(s / fs), 0), n), min(max(hi, 0), n)
        return bool((self.lv[lo - self.lbase:hi - self.lbase] >= self.p.silence_dbfs).any())

    def _run(self, up: Update, last: bool, whole_batches: bool = True) -> None:
        """Classify the queue's windows that are decided, in order: all of them at the end
        or for live audio, else whole batches (files: the batches a whole-file pass makes)."""
        ready = []
        for q in self.queue:
            d = self._decided(q, last)
            if d is None:
                break
            ready.append(d)
        stop = len(ready)
        if not last and self.batch > 1 and whole_batches:
            kept = [i for i, d in enumerate(ready) if d]
            n = len(kept) // self.batch * self.batch
            stop = kept[n - 1] + 1 if n else 0
        todo = [q for q, d in zip(self.queue[:stop], ready[:stop]) if d]
        del self.queue[:stop]
        new: list[Window] = []
        for i in range(0, len(todo), BATCH):
            new += self._classify(todo[i:i + BATCH])
        if last and self.promote is not None:
            self._promote(self.promote, new)
        up.windows += new
        self.recent = (self.recent + new)[-8:]
        self.segmenter.add_windows([w.start for w in new], [w.probs for w in new])
        nxt = self.queue[0][0] if self.queue else min(v for v in (self.next_c, self.next_f) if v is not None)
        self.segmenter.known_until(nxt / self.ref)

    def _promote(self, start: int, new: list[Window]) -> None:
        """The window ending at the end is on both grids, and was classified as an event
        window before the end was known: it joins the `windows` grid (same object)."""
        w = next((w for w in self.recent if w.start == start / self.ref), None)
        if w is None or w.coarse:
            return
        w.coarse = True
        if self.keep_features or self.embeddings:
            feats = self.clf.model.featurize(self._cut([start]))
            if self.keep_features:
                w.features = feats
            if self.embeddings:
                w.embedding = self.clf.model.embeddings(feats)[0]

    def _cut(self, starts: list[int]) -> dict[int, np.ndarray]:
        out = {}
        for r, st in self.streams.items():
            n = self.n_at[r]
            if st.done and st.end <= n and st.offset == 0:  # audio no longer than a window
                out[r] = st.buf[None].copy()
                continue
            firsts = [int(round(s / self.ref * r)) for s in starts]
            if st.done:
                firsts = [min(f, st.end - n) for f in firsts]
            out[r] = np.stack([st.take(f, n) for f in firsts])
        return out

    def _classify(self, batch: list[list]) -> list[Window]:
        model = self.clf.model
        feats = model.featurize(self._cut([q[0] for q in batch]))
        probs = model.predict_windows(feats)
        coarse = np.asarray([q[1] for q in batch], dtype=bool)
        kept = emb = None
        if (self.keep_features or self.embeddings) and coarse.any():
            kept = {k: v[coarse] for k, v in feats.items()}
            if self.embeddings:
                emb = model.embeddings(kept)
        out, j = [], 0
        for i, q in enumerate(batch):
            w = Window(start=q[0] / self.ref, probs=probs[i], coarse=bool(q[1]))
            if q[1] and kept is not None:
                if self.keep_features:
                    w.features = {k: v[j:j + 1] for k, v in kept.items()}
                if emb is not None:
                    w.embedding = emb[j]
                j += 1
            out.append(w)
        return out

    def _forget(self) -> None:
        """Drop the audio and levels no window can need any more."""
        head = self.queue[0][0] if self.queue else min(v for v in (self.next_c, self.next_f) if v is not None)
        keep_from = min(head, self.streams[self.ref].end - self.W - max(self.hop_c, self.hop_f or 0))
        for r, st in self.streams.items():
            st.forget(int(keep_from / self.ref * r) - 2)
        frame = int(max(0, keep_from) / self.ref / self.p.frame_seconds) - 2
        k = max(0, frame - self.lbase)
        if k:
            self.lv = self.lv[k:]
            self.lbase += k

    @staticmethod
    def _merge(into: Update, up: Update) -> None:
        into.windows += up.windows
        into.events += up.events
        if len(up.envelope):
            into.envelope = np.concatenate([into.envelope, up.envelope])
        into.levels = FrameLevels.concat([into.levels, up.levels])
