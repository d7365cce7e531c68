"""Sound levels (levels.py) against the standard: the A-weighting's response at the
IEC 61672-1 table's frequencies, measured with real tones through the block-by-block
meter; known levels of tones, of a signal at two levels, and of tone bursts (time
weighting F)."""

from __future__ import annotations

import numpy as np
import pytest

from envaudio.levels import FrameLevels, LevelMeter, a_weighting_db, class_shares, leq, summarize

# IEC 61672-1:2013, Table 3: the A-weighting (dB) at the nominal frequencies, and the class-1
# acceptance limits (+, -). Where editions or readings of the table differ, the tighter
# value is kept (1 kHz: 0.7 dB).
TABLE = [  # (Hz, A dB, +limit, -limit)
    (10, -70.4, 3.5, np.inf), (12.5, -63.4, 3.0, np.inf), (16, -56.7, 2.5, 4.5), (20, -50.5, 2.5, 2.5),
    (25, -44.7, 2.5, 2.0), (31.5, -39.4, 2.0, 2.0), (40, -34.6, 1.5, 1.5), (50, -30.2, 1.5, 1.5),
    (63, -26.2, 1.5, 1.5), (80, -22.5, 1.5, 1.5), (100, -19.1, 1.5, 1.5), (125, -16.1, 1.5, 1.5),
    (160, -13.4, 1.5, 1.5), (200, -10.9, 1.5, 1.5), (250, -8.6, 1.4, 1.4), (315, -6.6, 1.4, 1.4),
    (400, -4.8, 1.4, 1.4), (500, -3.2, 1.4, 1.4), (630, -1.9, 1.4, 1.4), (800, -0.8, 1.4, 1.4),
    (1000, 0.0, 0.7, 0.7), (1250, 0.6, 1.4, 1.4), (1600, 1.0, 1.6, 1.6), (2000, 1.2, 1.6, 1.6),
    (2500, 1.3, 1.6, 1.6), (3150, 1.2, 1.6, 1.6), (4000, 1.0, 1.6, 1.6), (5000, 0.5, 2.1, 2.1),
    (6300, -0.1, 2.1, 2.6), (8000, -1.1, 2.1, 3.1), (10000, -2.5, 2.6, 3.6), (12500, -4.3, 3.0, 6.0),
]


def tone(f: float, seconds: float, sr: int, amp: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return amp * np.sin(2 * np.pi * f * t + phase)


def meter_frames(x: np.ndarray, sr: int, chunk: int | None = None) -> FrameLevels:
    m = LevelMeter(sr)
    chunk = chunk or len(x)
    parts = [m.push(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    return FrameLevels.concat(parts + [m.finish()])


@pytest.mark.parametrize("sr", [22050, 32000])
def test_a_weighting_response_within_class_1(sr):
    """A full-scale tone at each of the table's frequencies below 0.45 of the sample rate
    (the analysed audio holds nothing above Nyquist): its LAeq, in dB re its own
    unweighted level, is the table's value within the class-1 limits, and within 0.3 dB."""
    worst = 0.0
    for f, a, plus, minus in TABLE:
        if f > 0.45 * sr:
            continue
        seconds = max(2.0, 40.0 / f)  # whole periods enough, away from the start and end
        fr = meter_frames(tone(f, seconds + 2.0, sr), sr)[10:-10]
        got = leq(fr) - (-3.0103)  # a full-scale sine's unweighted level
        assert a - minus <= got <= a + plus, (f, got, a)
        worst = max(worst, abs(got - a))
    assert worst < 0.3, worst


def test_the_analogue_curve_is_the_standard():
    """levels.a_weighting_db is Annex E's curve: at the exact frequencies the nominal ones
    stand for (1 kHz x 10^(n/10)), the table's values to their 0.1-dB rounding."""
    for f, a, _, _ in TABLE:
        exact = 1000 * 10 ** (round(10 * np.log10(f / 1000)) / 10)
        assert a_weighting_db(exact) == pytest.approx(a, abs=0.051), f  # 160 Hz: -13.35


@pytest.mark.parametrize("sr", [22050, 32000])
@pytest.mark.parametrize("cal", [None, 94.0])
def test_a_1khz_tone_reads_its_level(sr, cal):
    """A 1-kHz sine of amplitude 0.5 is 20 log10(0.5 / sqrt 2) = -9.03 dBFS; with
    --calibration-db 94 (the dB SPL of a full-scale RMS of 1.0), 84.97 dB. Every level of
    a steady tone is that one, within 0.1 dB."""
    want = 20 * np.log10(0.5 / np.sqrt(2)) + (cal or 0.0)
    s = summarize(meter_frames(tone(1000, 12.0, sr, 0.5), sr)[5:-5], cal or 0.0)
    for name in ("laeq", "lamax", "lamin", "l10", "l50", "l90"):
        assert getattr(s, name) == pytest.approx(want, abs=0.1), name


def test_two_levels_laeq_and_percentiles():
    """6 s at -20 dBFS then 4 s at -40 (1-kHz tones): LAeq is their energy mean; L10 and
    L50 are the louder, L90 the quieter (the F-weighted level takes a second to settle
    20 dB down, so the quiet part is long enough to hold the quietest 10 %); LAFmax and
    LAFmin are the two levels."""
    sr = 22050
    loud, quiet = tone(1000, 6.0, sr, np.sqrt(2) * 0.1), tone(1000, 4.0, sr, np.sqrt(2) * 0.01, phase=2 * np.pi * 6000)
    s = summarize(meter_frames(np.concatenate([loud, quiet]), sr))
    assert s.laeq == pytest.approx(10 * np.log10(0.6 * 1e-2 + 0.4 * 1e-4), abs=0.1)
    assert s.l10 == pytest.approx(-20, abs=0.1) and s.l50 == pytest.approx(-20, abs=0.1)
    assert s.l90 == pytest.approx(-40, abs=0.1)
    assert s.lamax == pytest.approx(-20, abs=0.1) and s.lamin == pytest.approx(-40, abs=0.1)


@pytest.mark.parametrize("ms", [1000, 500, 200, 100, 50, 20, 10])
def test_tone_bursts_time_weighting_f(ms):
    """IEC 61672-1's tone-burst test: a 4-kHz burst of `ms` in silence reads LAFmax =
    the steady tone's level + 10 log10(1 - exp(-T / 125 ms)) (-1.0 dB for 200 ms, -11.1
    for 10 ms), within 0.1 dB."""
    sr = 32000
    steady = summarize(meter_frames(tone(4000, 5.0, sr, 0.5), sr)[10:-10]).laeq
    burst = tone(4000, ms / 1000, sr, 0.5)
    x = np.concatenate([np.zeros(sr), burst, np.zeros(2 * sr)])
    got = summarize(meter_frames(x, sr)).lamax
    want = steady + 10 * np.log10(1 - np.exp(-(ms / 1000) / 0.125))
    assert got == pytest.approx(want, abs=0.1)


def test_blocks_give_the_same_levels():
    """The meter's frames do not depend on how the audio is cut into blocks."""
    sr = 22050
    x = np.random.default_rng(0).standard_normal(sr * 7 + 123) * 0.1
    whole = meter_frames(x, sr)
    for chunk in (441, 9999, sr * 3):
        part = meter_frames(x, sr, chunk)
        assert len(part) == len(whole) == 71
        for k in FrameLevels.FIELDS:
            assert np.allclose(getattr(part, k), getattr(whole, k), rtol=1e-9, atol=1e-15), k


def test_class_shares_sum_to_one():
    energy = np.array([1.0, 3.0, 4.0, 2.0])
    shares = class_shares(energy, ["siren", None, "siren", "dog_bark"], ["dog_bark", "siren", "car_horn"])
    assert shares == pytest.approx({"dog_bark": 0.2, "siren": 0.5, "car_horn": 0.0, "unlabelled": 0.3})
    assert sum(shares.values()) == pytest.approx(1.0)
    assert set(class_shares(np.zeros(3), [None] * 3, ["a"]).values()) == {0.0}


def test_frame_classes_inner_event_wins_and_others_are_left_out():
    from envaudio.events import Event
    from envaudio.levels import frame_classes

    ev = [Event("street_music", 20.0, 30.0, 0.9), Event("car_horn", 24.0, 25.0, 0.9), Event("siren", 1.0, 3.0, 0.9),
          Event("dog_bark", 40.0, 41.0, 0.9)]
    c = frame_classes(100, ev, 0.1, t0=22.0)  # frames 22.0 .. 32.0 s
    assert len(c) == 100
    assert c[:20] == ["street_music"] * 20 and c[20:30] == ["car_horn"] * 10
    assert c[30:80] == ["street_music"] * 50 and c[80:] == [None] * 20
