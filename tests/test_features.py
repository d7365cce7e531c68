"""The feature function and the window arithmetic."""

import numpy as np
import pytest
import soundfile as sf

from envaudio.datasets.cache import FeatureCache
from envaudio.features import (fix_length, log_mel_spectrogram, mel_frequencies, rms_gain_db,
                               rms_normalize, slaney_filterbank)
from envaudio.predict import Classifier
from envaudio.loading import load_model
from envaudio.settings import FeatureConfig, Settings, SettingsError, available_cpus
from envaudio.windows import cut_windows, window_starts
from conftest import noise, tone

CFG = FeatureConfig()


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    for sr, n_fft, n_mels in [(22050, 1024, 64), (22050, 2048, 128), (16000, 512, 40)]:
        ours = slaney_filterbank(sr, n_fft, n_mels)
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
        assert np.allclose(ours, ref, atol=1e-6)


def test_log_mel_matches_librosa_power_to_db():
    librosa = pytest.importorskip("librosa")
    cfg = FeatureConfig(rms_normalize=False)
    x = noise(4.0, 22050, 0.1)
    ours = log_mel_spectrogram(x, cfg)
    mel = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         n_mels=cfg.n_mels, center=True, pad_mode="constant")
    ref = librosa.power_to_db(mel, ref=1.0, top_db=cfg.top_db)
    assert ours.shape == (cfg.n_mels, cfg.n_frames) == ref.shape
    assert np.abs(ours - ref).max() < 0.05


def test_tone_energy_lands_in_the_right_band():
    spec = log_mel_spectrogram(tone(2000, 4.0), CFG)
    centres = mel_frequencies(CFG.n_mels, 0, CFG.sample_rate / 2)
    peak_band = int(np.argmax(spec.mean(axis=1)))
    assert abs(centres[peak_band] - 2000) < 200


def test_short_clips_are_looped_or_zero_padded():
    x = np.arange(1, 6, dtype=np.float32)
    assert fix_length(x, 12, "loop").tolist() == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
    assert fix_length(x, 7, "zero").tolist() == [1, 2, 3, 4, 5, 0, 0]
    assert fix_length(x, 3).tolist() == [1, 2, 3]


def test_features_do_not_depend_on_level_with_rms_normalisation():
    x = noise(4.0)
    a, b = log_mel_spectrogram(x, CFG), log_mel_spectrogram(x * 0.01, CFG)
    assert np.abs(a - b).max() < 1e-3
    assert np.array_equal(rms_normalize(np.zeros(10, np.float32), 0.1), np.zeros(10))  # silence stays


def test_rms_gain_db_undoes_the_normalisation():
    x = tone(300, 4.0, amp=0.01)
    gain = rms_gain_db(x, CFG)
    assert gain == pytest.approx(20 * np.log10(CFG.rms_target / (0.01 / np.sqrt(2))), abs=0.05)
    raw = log_mel_spectrogram(x, FeatureConfig(rms_normalize=False))
    assert log_mel_spectrogram(x, CFG).max() - gain == pytest.approx(raw.max(), abs=0.01)
    assert rms_gain_db(x, FeatureConfig(rms_normalize=False)) == 0.0
    assert rms_gain_db(np.zeros(1000, np.float32), CFG) == 0.0  # silence is left alone


def test_silence_gives_finite_features():
    spec = log_mel_spectrogram(np.zeros(22050, np.float32), CFG)
    assert np.all(np.isfinite(spec))


def test_batch_equals_single():
    xs = np.stack([noise(4.0, seed=i) for i in range(3)])
    batch = log_mel_spectrogram(xs, CFG)
    for i in range(3):
        assert np.allclose(batch[i], log_mel_spectrogram(xs[i], CFG), atol=1e-4)


@pytest.mark.parametrize("n,expected", [
    (88200, [0]),                        # exactly one window
    (10000, [0]),                        # short clip: one (padded) window
    (88200 * 5, [0, 44100, 88200, 132300, 176400, 220500, 264600, 308700, 352800]),  # 20 s
    (88200 + 1000, [0, 1000]),           # tail covered by a window ending at the end
    (88200 * 2, [0, 44100, 88200]),
])
def test_window_starts(n, expected):
    assert window_starts(n, 88200, 0.5) == expected


def test_windows_cover_everything():
    for n in range(88200, 88200 * 4, 7919):
        s = window_starts(n, 88200, 0.5)
        assert s[0] == 0 and s[-1] + 88200 == n  # first and last sample covered
        assert all(0 < b - a <= 44100 for a, b in zip(s, s[1:]))  # no gaps, 50 % overlap or more


def test_bad_overlap():
    with pytest.raises(ValueError):
        window_starts(100, 10, 1.0)


def test_training_and_inference_features_are_identical(tmp_path):
    """The cache (training/evaluation) and the Classifier (predict/API) give the same arrays."""
    path = tmp_path / "clip.flac"
    sf.write(path, np.concatenate([tone(600, 1.2, 44100), noise(1.0, 44100, 0.05)]), 44100)
    long_path = tmp_path / "long.wav"
    sf.write(long_path, noise(9.0, 16000, 0.1, seed=3), 16000)
    clf = Classifier(load_model(), Settings())
    for fe in clf.model.frontends:
        cache = FeatureCache(tmp_path / "cache", fe)
        for p in (path, long_path):
            cached = cache.get_many([str(p)], workers=1, progress=False)[0]
            pred = clf.classify_file(p).features[fe.key()]
            assert cached.shape == pred.shape
            assert np.array_equal(cached, pred)
            # and again from the cache (second read), still identical
            assert np.array_equal(cache.get_many([str(p)], workers=1, progress=False)[0], pred)


def test_cache_is_keyed_by_settings(tmp_path):
    a = FeatureCache(tmp_path, FeatureConfig(n_mels=64))
    b = FeatureCache(tmp_path, FeatureConfig(n_mels=40))
    assert a.dir != b.dir
    path = tmp_path / "x.wav"
    sf.write(path, noise(1.0), 22050)
    assert a.get_many([str(path)], 1, False)[0].shape[1] == 64
    assert b.get_many([str(path)], 1, False)[0].shape[1] == 40


def test_settings_from_env():
    s = Settings.from_env({"ENVAUDIO_N_MELS": "40", "MAX_UPLOAD_MB": "5", "ENVAUDIO_RMS_NORMALIZE": "off",
                           "AUDIO_LOADER": "soundfile"})
    assert (s.n_mels, s.max_upload_mb, s.rms_normalize, s.audio_loader) == (40, 5.0, False, "soundfile")
    assert s.features.n_mels == 40
    with pytest.raises(SettingsError, match="AUDIO_LOADER"):
        Settings.from_env({"AUDIO_LOADER": "vlc"})
    with pytest.raises(SettingsError, match="N_MELS"):
        Settings.from_env({"ENVAUDIO_N_MELS": "many"})


def test_wave_augment_setting_is_checked():
    s = Settings.from_env({"ENVAUDIO_WAVE_AUGMENT": "ps:-2, ts:1.10"})
    assert s.wave_augment == "ps:-2, ts:1.10"
    for bad in ("pitch:2", "ps:up", "ts:0"):
        with pytest.raises(SettingsError, match="WAVE_AUGMENT"):
            Settings.from_env({"ENVAUDIO_WAVE_AUGMENT": bad})


def test_variant_cache_holds_pitch_shifted_features(tmp_path):
    """A pitch-shift variant moves a tone's energy up by the interval, and is cached apart
    from the original."""
    path = tmp_path / "tone.wav"
    sf.write(path, tone(1000, 2.0), 22050)
    plain = FeatureCache(tmp_path / "c", CFG)
    up = FeatureCache(tmp_path / "c", CFG, variant="ps:12")  # one octave
    assert plain.dir != up.dir
    f0 = plain.get_many([str(path)], 1, False)[0][0].mean(axis=1)
    f1 = up.get_many([str(path)], 1, False)[0][0].mean(axis=1)
    centres = mel_frequencies(CFG.n_mels, 0, CFG.sample_rate / 2)
    assert abs(centres[f0.argmax()] - 1000) < 150
    assert abs(centres[f1.argmax()] - 2000) < 300


def test_available_cpus_honours_a_cgroup_quota(tmp_path):
    own = available_cpus(str(tmp_path / "none"))
    assert own >= 1
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("100000 100000\n")  # docker run --cpus 1
    assert available_cpus(str(tmp_path / "v2")) == 1
    (tmp_path / "v2" / "cpu.max").write_text("max 100000\n")  # no limit
    assert available_cpus(str(tmp_path / "v2")) == own
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(str(tmp_path / "v1")) == 1


def test_windows_are_cut_at_the_same_times_at_every_rate():
    x22, x16 = noise(10.0), noise(10.0, sr=16000)
    starts, windows = cut_windows({22050: x22, 16000: x16}, 4.0, 0.5)
    assert starts == [0.0, 2.0, 4.0, 6.0]
    assert windows[22050].shape == (4, 88200) and windows[16000].shape == (4, 64000)
    assert np.array_equal(windows[16000][1], x16[32000:96000])
    assert np.array_equal(windows[22050][3], x22[-88200:])
    feats = log_mel_spectrogram(windows[22050], CFG)
    assert feats.shape == (4, CFG.n_mels, CFG.n_frames)
    # audio shorter than a window: one window of its natural length (looped by the features)
    starts, windows = cut_windows({22050: x22[:1000], 16000: x16[:725]}, 4.0)
    assert starts == [0.0] and windows[22050].shape == (1, 1000) and windows[16000].shape == (1, 725)
