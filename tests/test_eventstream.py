"""EventSegmenter: a stream's events, given once each, equal detect_events over the whole
recording, on many generated recordings (levels and window probabilities made to hold
sounds, quiet gaps, unsure stretches and disputes), whatever the step the stream advances
by. Fast: no model."""

from __future__ import annotations

import numpy as np
import pytest

from envaudio.events import EventParams, detect_events, smooth_levels
from envaudio.eventstream import EventSegmenter

P = EventParams(silence_dbfs=-65.0, unknown_threshold=0.5, frame_seconds=0.1, level_block_seconds=0.5,
                min_event_seconds=0.5, max_gap_seconds=0.5)
L = 4.0
LABELS = [f"class{i}" for i in range(5)]


def grid(dur: float, levels: np.ndarray) -> list[float]:
    """predict's windows: every 2 s, every 1 s where not quiet throughout, one at the end."""
    starts = sorted(set(np.arange(0, dur - L + 1e-9, 2.0)) | set(np.arange(0, dur - L + 1e-9, 1.0)))
    if starts[-1] + L < dur:
        starts.append(dur - L)
    keep = []
    for s in starts:
        a, b = int(s / 0.1), int(np.ceil((s + L) / 0.1))
        if abs(s / 2 - round(s / 2)) < 1e-9 or s == starts[-1] or (levels[a:b] >= P.silence_dbfs).any():
            keep.append(float(s))
    return keep


def with_gaps(seed: int, dur: float):
    """Stretches of sound of random classes and levels, and quiet ones."""
    rng = np.random.default_rng(seed)
    n = int(dur * 10)
    power, cls, i = np.zeros(n), np.full(n, -1), 0
    while i < n:
        k = min(int(rng.integers(5, 120)), n - i)
        level = rng.choice([-130, -70, -50, -30, -20]) + rng.normal(0, 3, size=k)
        power[i:i + k] = 10 ** (level / 10)
        cls[i:i + k] = rng.integers(0, 5) if level.mean() > -60 else -1
        i += k
    levels = smooth_levels(power, 5)
    starts = grid(dur, levels)
    probs = []
    for s in starts:
        c = cls[int(s / 0.1):min(n, int((s + L) / 0.1))]
        c = c[c >= 0]
        pr = rng.dirichlet(np.ones(5) * 0.5)
        if len(c) and rng.random() < 0.8:
            pr = 0.3 * pr
            pr[np.bincount(c, minlength=5).argmax()] += 0.7 * rng.random()
        probs.append(pr / pr.sum())
    return levels, np.array(starts), np.array(probs), n * 0.1


def never_quiet(seed: int, dur: float):
    """Loud throughout: the only gaps are where no window is sure (the model unsure)."""
    rng = np.random.default_rng(seed)
    n = int(dur * 10)
    power = 10 ** ((rng.choice([-40, -30, -20], size=n // 20 + 1).repeat(20)[:n] + rng.normal(0, 2, size=n)) / 10)
    levels = smooth_levels(power, 5)
    starts = list(np.arange(0, dur - L + 1e-9, 1.0))
    if starts[-1] + L < dur:
        starts.append(dur - L)
    seg = np.repeat(rng.integers(-1, 5, size=n // 60 + 2), 60)
    probs = []
    for s in starts:
        k = seg[int((s + 2) / 0.1)]
        pr = np.abs(np.ones(5) / 5 + rng.normal(0, 0.02, 5)) if k < 0 else 0.2 * rng.dirichlet(np.ones(5))
        if k >= 0:
            pr[k] += 0.8
        probs.append(pr / pr.sum())
    return levels, np.array(starts), np.array(probs), n * 0.1


def advance(seg, levels, starts, probs, step: int):
    """Feeds `seg` `step` frames at a time as the Listener does (levels as they become
    final, windows once their audio has arrived); yields (time, the events given then)."""
    wi = 0
    for f in range(0, len(levels), step):
        t = (f + step) * 0.1
        seg.add_levels(levels[f:f + step])
        j = wi
        while j < len(starts) and starts[j] + L <= t:
            j += 1
        seg.add_windows(starts[wi:j], probs[wi:j])
        wi = j
        seg.known_until(starts[wi] if wi < len(starts) else t)
        yield t, seg.update()


def streamed(levels, starts, probs, dur, step: int, max_pending: float = 600.0) -> tuple[list, int]:
    """The events a stream gives, advancing `step` frames at a time, and how many cuts."""
    seg = EventSegmenter(LABELS, L, P, max_pending)
    out, cuts, before = [], 0, seg.cut
    for _, events in advance(seg, levels, starts, probs, step):
        out += events
        cuts += seg.cut != before
        before = seg.cut
    return out + seg.finish(dur), cuts


def key(events) -> list[tuple]:
    return [(e.label, e.start, e.end, round(e.confidence, 9)) for e in events]


@pytest.mark.parametrize("make", [with_gaps, never_quiet])
def test_stream_gives_the_whole_recordings_events(make):
    total_cuts = 0
    for seed in range(20):
        dur = float(np.random.default_rng(seed + 1000).integers(20, 400))
        levels, starts, probs, dur = make(seed, dur)
        whole = detect_events(starts, L, probs, levels, LABELS, P, end_time=dur)
        for step in (3, 50):
            got, cuts = streamed(levels, starts, probs, dur, step)
            assert key(got) == key(whole), (seed, step)
            total_cuts += cuts
    assert total_cuts > 50  # the stream was cut, not kept whole to the end


def test_events_are_given_soon_after_they_end():
    """Sounds of 6 s with 8 s of quiet after each: every event is given within 25 s of its
    end (the gap, then two windows of context), not at the end of the stream."""
    n_sounds, period = 20, 140  # frames: 60 of sound, 80 of quiet
    power = np.tile(np.r_[np.full(60, 1e-2), np.zeros(80)], n_sounds)
    levels = smooth_levels(power, 5)
    dur = len(levels) * 0.1
    starts = np.array(grid(dur, levels))
    probs = []
    for s in starts:
        k = int(s * 10) // period
        loud = power[int(s * 10):int((s + L) * 10)].any()
        pr = np.full(5, 0.025) + (np.eye(5)[k % 5] * 0.9 if loud else 0.175)
        probs.append(pr / pr.sum())
    probs = np.array(probs)
    delays = [t - e.end for t, events in advance(EventSegmenter(LABELS, L, P), levels, starts, probs, 5)
              for e in events]
    assert len(delays) >= n_sounds - 2 and max(delays) < 25.0, delays


def test_a_stream_without_gaps_is_cut_anyway():
    """Never a gap: after max_pending_seconds the stream is cut at its quietest point; an
    event across the cut is given in two parts, so the events cover the same time."""
    rng = np.random.default_rng(0)
    n = 5000
    levels = smooth_levels(10 ** ((-30 + rng.normal(0, 2, n)) / 10), 5)
    starts = np.arange(0, 500 - L + 1e-9, 1.0)
    probs = np.tile(np.array([0.9, 0.025, 0.025, 0.025, 0.025]), (len(starts), 1))
    whole = detect_events(starts, L, probs, levels, LABELS, P, end_time=500.0)
    got, cuts = streamed(levels, starts, probs, 500.0, 10, max_pending=60.0)
    assert len(whole) == 1 and cuts >= 5 and len(got) == cuts + 1
    assert got[0].start == whole[0].start and got[-1].end == whole[0].end
    assert all(a.end == b.start for a, b in zip(got, got[1:]))
    assert {e.label for e in got} == {"class0"}
