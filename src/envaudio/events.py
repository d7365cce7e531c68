"""Sound events of a recording: what was heard, when, and when nothing was.

Pure functions over numbers the classifier already has (window probabilities) and the
waveform's level. Files, uploads, the live stream and `envaudio monitor` all reach them
through the streaming core (listen/), which runs `detect_events` on stretches of a
recording cut where the result cannot depend on what lies beyond (eventstream.py).

How the times are found (the onset resolution is at most one event hop, 1 s by default,
and to the frame, 0.1 s, where a sound starts after quiet):

1. Level. The waveform's power in frames of FRAME_SECONDS (0.1 s), smoothed over
   LEVEL_BLOCK_SECONDS: a frame is *quiet* when that short-term level (dBFS, RMS re full
   scale) is below SILENCE_DBFS. The input's `level_dbfs` is its loudest block; below
   SILENCE_DBFS the verdict is "silence" and there are no events.
2. What each window heard. The analysis windows (4 s) are laid every EVENT_HOP_SECONDS
   (1 s). A window is *sure* when its best probability reaches the unknown threshold;
   an unsure window names nothing and votes for nothing (a window straddling a change of
   sound is often unsure of both: that is no evidence against either). A window's sound
   is the part of it that is loud for it (`window_support`): within SOUND_DROP_DB of
   its loudest level and clear of the silence threshold, pauses shorter than
   PAUSE_SECONDS included. The near-silence before a sound starts, after it stops, or
   between two sounds sharing the window is not what the window heard.
3. Labels. Each frame gets the votes of the sure windows whose sound covers it, each
   window's vote its probability times the share of it that holds sound. Where the
   votes name one class, the frame has it: a stretch where the windows agree is never
   lost or relabelled. Where they name several (near a change of sound): a short run
   of B inside A (a 1-s car horn in street music) keeps B where all its windows
   overlap, A around it; else between two sounds the boundary goes to the clear level
   jump in the disputed stretch; else each frame takes the class with the most votes.
   A sound named by fewer windows than that (a 1-s horn that one window names) takes
   the stretch its windows share, narrowed to the level's clear rise and fall there.
   A frame named by no sure window is a gap ("not recognised").
4. Confidence: the mean probability that the sure windows covering the event's frames
   give its class, so never below the unknown threshold.
5. Runs of frames with one label become events, cut at the audio's end; gaps shorter
   than MAX_GAP_SECONDS inside one label are bridged, events shorter than
   MIN_EVENT_SECONDS are dropped, and a short event with the same label on both sides
   is reported inside one long event (street music 0-20 s, car horn 10-11 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FLOOR_DBFS = -120.0  # level of digital zero (a finite number for JSON)
JUMP_DB = 6.0  # a level step this large marks a boundary between touching events
SOUND_DROP_DB = 20.0  # frames this far below a window's loudest are not its sound ...
NEAR_SILENCE_DB = 6.0  # ... or this close to SILENCE_DBFS (next to a sound well above it)
PAUSE_SECONDS = 1.0  # ... unless they are a pause shorter than this between its loud parts


@dataclass(frozen=True)
class EventParams:
    """The knobs of event detection (from Settings: `EventParams.from_settings`)."""

    silence_dbfs: float
    unknown_threshold: float | tuple[float, ...]  # 0: never "unknown"; a tuple: one per class
    frame_seconds: float
    level_block_seconds: float
    min_event_seconds: float
    max_gap_seconds: float

    @classmethod
    def from_settings(cls, s, model_threshold: float = 0.0, labels: list[str] | None = None) -> "EventParams":
        """The event knobs of Settings `s`; `model_threshold`: the model's calibrated
        unknown threshold, used unless UNKNOWN_THRESHOLD is set. With the model's `labels`,
        THRESHOLDS (per class) and MIN_CONFIDENCE (a floor) apply too (thresholds.py)."""
        threshold = s.unknown_threshold or model_threshold
        if labels is not None and (s.thresholds or s.min_confidence):
            from .thresholds import class_thresholds

            threshold = class_thresholds(list(labels), threshold, s.thresholds, s.min_confidence)
        return cls(silence_dbfs=s.silence_dbfs, unknown_threshold=threshold,
                   frame_seconds=s.event_frame_seconds, level_block_seconds=s.level_block_seconds,
                   min_event_seconds=s.min_event_seconds, max_gap_seconds=s.max_gap_seconds)

    def threshold_of(self, index: int | None = None) -> float:
        """Class `index`'s unknown threshold (the lowest of them when no class is given)."""
        t = self.unknown_threshold
        if isinstance(t, tuple):
            return float(t[index]) if index is not None else float(min(t, default=0.0))
        return float(t)


@dataclass
class Event:
    label: str
    start: float
    end: float
    confidence: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def power_db(ms: np.ndarray) -> np.ndarray:
    """Mean square -> dBFS (a full-scale sine is -3 dBFS), digital zero at FLOOR_DBFS."""
    ms = np.asarray(ms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(ms)
    return np.maximum(np.nan_to_num(db, neginf=FLOOR_DBFS), FLOOR_DBFS)


def frame_power(wave: np.ndarray, sr: int, frame_seconds: float) -> np.ndarray:
    """Mean square of each frame (the last one may be partial)."""
    wave = np.asarray(wave, dtype=np.float64)
    n = max(1, int(round(frame_seconds * sr)))
    k = -(-len(wave) // n) if len(wave) else 0
    if k == 0:
        return np.zeros(0)
    padded = np.zeros(k * n)
    padded[:len(wave)] = np.square(wave)
    sums = padded.reshape(k, n).sum(axis=1)
    counts = np.full(k, n, dtype=np.float64)
    counts[-1] = len(wave) - (k - 1) * n
    return sums / counts


def smooth_levels(power: np.ndarray, frames: int) -> np.ndarray:
    """Short-term level (dBFS) of each frame: the power averaged over `frames` frames
    centred on it (shifted inwards at the edges). Each mean is summed from its own frames
    (not a running sum's difference), so a frame's level is the same number whether it is
    computed over a whole file or a stream's latest frames (listen.py)."""
    if len(power) == 0:
        return np.zeros(0)
    power = np.asarray(power, dtype=np.float64)
    frames = max(1, min(int(frames), len(power)))
    sums = np.lib.stride_tricks.sliding_window_view(power, frames).sum(axis=1)
    lo = np.clip(np.arange(len(power)) - frames // 2, 0, len(power) - frames)
    return power_db(sums[lo] / frames)


def level_envelope(wave: np.ndarray, sr: int, p: EventParams) -> np.ndarray:
    """Short-term level (dBFS) per frame of `p.frame_seconds`."""
    block = max(1, int(round(p.level_block_seconds / p.frame_seconds)))
    return smooth_levels(frame_power(wave, sr, p.frame_seconds), block)


def loudest_level(levels: np.ndarray) -> float:
    """The input's level: its loudest short-term level (dBFS)."""
    return float(levels.max()) if len(levels) else FLOOR_DBFS


def window_labels(probs: np.ndarray, threshold) -> np.ndarray:
    """Each window's class index, or -1 where its best probability is below `threshold`
    (one number, or one per class: the best class's own)."""
    probs = np.asarray(probs, dtype=np.float64)
    idx = probs.argmax(axis=1)
    need = np.asarray(threshold, dtype=np.float64)
    if need.ndim:
        need = need[idx]
    return np.where(probs.max(axis=1) >= need, idx, -1)


def coverage(starts, window_seconds: float, n_frames: int, frame_seconds: float, t0: float = 0.0) -> np.ndarray:
    """(n_frames, n_windows) bool: which windows cover each frame's centre. A frame no
    window covers (a stream's history edge) gets the nearest window."""
    starts = np.asarray(starts, dtype=np.float64)
    centres = t0 + (np.arange(n_frames) + 0.5) * frame_seconds
    cover = (starts[None, :] <= centres[:, None] + 1e-9) & (centres[:, None] < starts[None, :] + window_seconds)
    none = ~cover.any(axis=1)
    if none.any():
        mid = starts + window_seconds / 2
        cover[np.flatnonzero(none), np.abs(centres[none, None] - mid[None, :]).argmin(axis=1)] = True
    return cover


AMBIGUOUS = -2  # a frame whose covering windows disagree


def resolve_ambiguous(lab: np.ndarray, vote: np.ndarray, levels: np.ndarray, short: int, block: int) -> np.ndarray:
    """Give each stretch of AMBIGUOUS frames a label. A short run of B with A on both
    sides (A ... B ... A, B at most `short` frames) keeps only the frames every B window
    covers: B is where all its windows overlap, A the rest. Between two different labels,
    the boundary goes to the largest level jump in the stretch if there is a clear one.
    Otherwise each frame takes its `vote` (the covering windows' mean probabilities)."""
    lab = lab.copy()
    rs = runs(list(lab))
    for k, (a, b, v) in enumerate(rs):
        if v != AMBIGUOUS:
            continue
        left = rs[k - 1][2] if k > 0 else -1
        right = rs[k + 1][2] if k + 1 < len(rs) else -1

        def short_between(i: int, j: int, outer: int) -> bool:  # rs[i] short, rs[j] ambiguous, then `outer`
            return (0 <= j < len(rs) and 0 <= j + (j - i) < len(rs) and rs[j][2] == AMBIGUOUS
                    and rs[j + (j - i)][2] == outer and rs[i][1] - rs[i][0] <= short)

        if left >= 0 and right != left and short_between(k + 1, k + 2, left):
            lab[a:b] = left
        elif right >= 0 and left != right and short_between(k - 1, k - 2, right):
            lab[a:b] = right
        else:
            lab[a:b] = vote[a:b]
            if left >= 0 and right >= 0 and left != right and b - a >= 2:
                st = level_steps(levels, block)[a:b]
                j = int(np.argmax(np.abs(st)))
                if abs(st[j]) >= JUMP_DB:
                    lab[a:a + j], lab[a + j:b] = left, right
    return lab


def level_steps(levels: np.ndarray, block: int) -> np.ndarray:
    """The level change (dB) at the start of each frame: the short-term level `block`
    frames on minus `block` frames before (the envelope is smoothed over `block` frames,
    so a step shows in full only that far apart)."""
    n = len(levels)
    i = np.arange(n)
    half = (block + 1) // 2
    return levels[np.minimum(n - 1, i + half)] - levels[np.maximum(0, i - half - 1)]


def short_runs(lab: np.ndarray, starts: np.ndarray, wlab: np.ndarray, window_seconds: float,
               levels: np.ndarray, p: EventParams, t0: float, block: int) -> np.ndarray:
    """Sounds too short for all covering windows to agree on (a run of fewer windows than
    a window spans): in the stretch the run's windows share, or the part of it between a
    clear rise and fall of the level. A 1-s car horn that one window names keeps its place
    instead of being outvoted by the music around it."""
    lab = lab.copy()
    steps = level_steps(levels, block)
    n = len(lab)
    for a, b, v in runs(list(wlab)):
        if v < 0:
            continue
        fa = max(0, int(np.ceil((starts[b - 1] - t0) / p.frame_seconds - 1e-9)))
        fb = min(n, int(np.floor((starts[a] + window_seconds - t0) / p.frame_seconds + 1e-9)))
        if fb - fa < 1 or (lab[fa:fb] == v).any():
            continue  # the windows agree on it somewhere: found already
        st = steps[fa:fb]
        rise = int(np.argmax(st))
        if st[rise] >= JUMP_DB:
            fa += rise
            fall = int(np.argmin(steps[fa + 1:fb])) + fa + 1 if fb - fa > 1 else fb
            if fall < fb and steps[fall] <= -JUMP_DB:
                fb = fall
        keep = lab[fa:fb] != -1  # never over quiet frames
        lab[fa:fb][keep] = v
    return lab


def runs(values: list) -> list[tuple[int, int, object]]:
    """[(first, end, value)] of the runs of equal values (end exclusive)."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        out.append((i, j, values[i]))
        i = j
    return out


def window_support(cover: np.ndarray, levels: np.ndarray, silence_dbfs: float, edge: int = 0,
                   pause: int = 1, drop_db: float = SOUND_DROP_DB) -> np.ndarray:
    """(n_frames, n_windows) bool: the frames of each window that hold its sound: those
    within `drop_db` of the window's loudest level (and not quiet), with the pauses of
    fewer than `pause` frames between them (between two barks) included. The near-silence
    around a sound (the gap before it starts, after it stops, between two sounds that
    share the window) is not what the window heard. The envelope is smoothed, so its first
    and last `edge` frames also show the level outside the window: they are judged by the
    frame next to them inside (a sound that stopped just before the window does not make
    the window's start loud). A window quiet throughout holds nothing."""
    support = np.zeros_like(cover)
    for w in range(cover.shape[1]):
        idx = np.flatnonzero(cover[:, w])
        if len(idx) == 0:
            continue
        lv = levels[idx].copy()
        k = min(edge, (len(lv) - 1) // 2)
        if k > 0:
            lv[:k], lv[len(lv) - k:] = lv[k], lv[len(lv) - k - 1]
        peak = float(lv.max())
        loud = lv >= max(silence_dbfs, peak - drop_db, min(silence_dbfs + NEAR_SILENCE_DB, peak - drop_db / 4))
        for a, b, v in runs(list(loud)):
            if not v and a > 0 and b < len(loud) and b - a < pause:
                loud[a:b] = True
        support[idx[loud], w] = True
    return support


def initial_labels(starts: np.ndarray, window_seconds: float, probs: np.ndarray, levels: np.ndarray,
                   p: EventParams, t0: float = 0.0):
    """Steps 2-3's first pass, before short sounds and disputes are settled: (cover,
    support, each window's label, which are sure, their one-hot labels, each frame's
    label (-1: quiet or named by no sure window, AMBIGUOUS: named several), each frame's
    vote). A frame's -1 here stays -1 in the events (listen.py cuts a stream there)."""
    n_classes = probs.shape[1]
    cover = coverage(starts, window_seconds, len(levels), p.frame_seconds, t0)
    block = max(1, int(round(p.level_block_seconds / p.frame_seconds)))
    support = window_support(cover, levels, p.silence_dbfs, block // 2 + 1,
                             int(round(PAUSE_SECONDS / p.frame_seconds))) & cover
    wlab = window_labels(probs, p.unknown_threshold)
    sure = wlab >= 0
    onehot = np.zeros((len(starts), n_classes))
    onehot[np.flatnonzero(sure), wlab[sure]] = 1.0
    # A sure window votes for its class on the frames that hold its sound, with its
    # probability times the share of it that holds sound (a window 2 s in the gap before
    # a sound saw half of it). Unsure windows have no vote: a window straddling a change
    # of sound is unsure of either, which says nothing against them.
    share = support.sum(axis=0) / np.maximum(cover.sum(axis=0), 1)
    weight = probs.max(axis=1) * share * sure
    score = (support * weight[None, :]) @ onehot  # (n_frames, n_classes)
    named = score > 0
    lab = np.where(named.sum(axis=1) == 1, named.argmax(axis=1), AMBIGUOUS)
    lab[~named.any(axis=1)] = -1
    vote = np.where(named.any(axis=1), score.argmax(axis=1), -1)
    quiet = levels < p.silence_dbfs  # quiet frames are gaps, whatever the windows say
    lab[quiet] = -1
    vote[quiet] = -1
    return cover, support, wlab, sure, onehot, lab, vote


def detect_events(starts, window_seconds: float, probs: np.ndarray, levels: np.ndarray,
                  labels: list[str], p: EventParams, t0: float = 0.0,
                  end_time: float | None = None) -> list[Event]:
    """Events from window probabilities (n_windows, n_classes) with their start times (s)
    and the level envelope (one value per frame of p.frame_seconds from t0). `end_time`:
    where the audio ends (no event goes past it; the last frame may be partial)."""
    n = len(levels)
    if n == 0 or len(starts) == 0:
        return []
    starts = np.asarray(starts, dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    starts, probs = starts[order], np.asarray(probs, dtype=np.float64)[order]
    levels = np.asarray(levels, dtype=np.float64)
    cover, support, wlab, sure, onehot, lab, vote = initial_labels(starts, window_seconds, probs, levels, p, t0)
    block = max(1, int(round(p.level_block_seconds / p.frame_seconds)))
    lab = short_runs(lab, starts, wlab, window_seconds, levels, p, t0, block)
    lab = resolve_ambiguous(lab, vote, levels, int(round(window_seconds / p.frame_seconds)), block)
    # An event's confidence: the mean, over its frames, of the probability its sure windows
    # covering the frame give it (so never below the unknown threshold).
    sure_cover = cover * sure[None, :]
    csum = (sure_cover * probs.max(axis=1)[None, :]) @ onehot
    ccount = sure_cover.astype(np.float64) @ onehot
    n_end = n if end_time is None else min(n, int(np.ceil((end_time - t0) / p.frame_seconds - 1e-9)))
    min_seconds = p.min_event_seconds
    if end_time is not None:  # a file shorter than MIN_EVENT_SECONDS can still be one event
        min_seconds = min(min_seconds, max(0.0, end_time - t0 - p.frame_seconds / 2))
    min_frames = min_seconds / p.frame_seconds
    segs = [[a, b, v] for a, b, v in runs(list(lab[:n_end])) if v >= 0 and b - a >= min_frames - 1e-9]
    segs = _bridge(segs, p.max_gap_seconds / p.frame_seconds)
    events = []
    for a, b, v in segs:
        end = t0 + b * p.frame_seconds if end_time is None else min(t0 + b * p.frame_seconds, end_time)
        if end - (t0 + a * p.frame_seconds) < min_seconds - 1e-9:
            continue
        c = ccount[a:b, v]
        conf = float(csum[a:b, v][c > 0].sum() / c[c > 0].sum()) if (c > 0).any() else float(probs[wlab == v, v].max())
        end = round(end, 3) if end_time is None or round(end, 3) <= end_time else np.floor(end_time * 1000) / 1000
        events.append(Event(labels[v], round(t0 + a * p.frame_seconds, 3), float(end), conf))
    return nest_short_events(events)


def _bridge(segs: list[list], max_gap: float) -> list[list]:
    """Merge consecutive segments of one label separated by at most `max_gap` frames."""
    out: list[list] = []
    for s in segs:
        if out and out[-1][2] == s[2] and s[0] - out[-1][1] <= max_gap + 1e-9:
            out[-1][1] = s[1]
        else:
            out.append(list(s))
    return out


def nest_short_events(events: list[Event]) -> list[Event]:
    """A - B - A with B shorter than both A's, and touching them: one A spanning B (B kept
    inside it). Sorted by start."""
    out = list(events)
    i = 1
    while i < len(out) - 1:
        a, b, c = out[i - 1], out[i], out[i + 1]
        short = b.end - b.start < min(a.end - a.start, c.end - c.start)
        touching = abs(a.end - b.start) < 1e-6 and abs(b.end - c.start) < 1e-6
        if a.label == c.label != b.label and short and touching:
            wa, wc = a.end - a.start, c.end - c.start
            merged = Event(a.label, a.start, c.end, (a.confidence * wa + c.confidence * wc) / (wa + wc))
            out[i - 1:i + 2] = [merged, b]
            continue
        i += 1
    return sorted(out, key=lambda e: (e.start, -e.end))


def verdict(level_dbfs: float, events: list[Event], p: EventParams) -> str:
    """ "silence" (below the threshold), "sound" (something recognised) or "unknown"."""
    if level_dbfs < p.silence_dbfs:
        return "silence"
    return "sound" if events else "unknown"


def window_verdict(level_dbfs: float, confidence: float, p: EventParams, index: int | None = None) -> str:
    """The verdict for one window (the live stream's latest prediction); `index`: its best
    class, whose threshold applies (per-class thresholds)."""
    if level_dbfs < p.silence_dbfs:
        return "silence"
    return "unknown" if confidence < p.threshold_of(index) else "sound"
