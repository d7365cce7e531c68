"""Decoding real files of many formats, and clear errors for bad ones."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from envaudio.audio import AudioError, check_waveform, load_audio
from conftest import tone

HAS_FFMPEG = shutil.which("ffmpeg") is not None


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_bit_depths_decode_to_mono_22050(tmp_path, subtype):
    x = tone(1000, 1.0, 44100, 0.5)
    path = tmp_path / "a.wav"
    sf.write(path, x, 44100, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 22050) <= 1
    # still a 1 kHz tone at the same level
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 22050 / len(y) - 1000) < 5
    assert 0.3 < np.sqrt(np.mean(y ** 2)) * np.sqrt(2) < 0.6


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg")])
def test_flac_and_ogg(tmp_path, fmt, ext):
    x = tone(440, 2.0, 16000)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, 16000, format=fmt)
    y = load_audio(path)
    assert abs(len(y) - 44100) <= 2


def test_stereo_is_mixed_down(tmp_path):
    left, right = tone(440, 1.0, 22050, 0.4), np.zeros(22050, np.float32)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], axis=1), 22050)
    y = load_audio(path)
    assert np.allclose(y, left / 2, atol=1e-4)


def test_bytes_and_path_give_the_same_audio(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, tone(300, 1.0, 48000), 48000)
    assert np.array_equal(load_audio(path), load_audio(path.read_bytes()))


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
@pytest.mark.parametrize("ext,codec", [("m4a", "aac"), ("mp3", "libmp3lame")])
def test_compressed_formats_through_ffmpeg(tmp_path, ext, codec):
    src = tmp_path / "src.wav"
    sf.write(src, tone(440, 2.0, 44100), 44100)
    out = tmp_path / f"a.{ext}"
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", codec, str(out)])
    if r.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {codec}")
    y = load_audio(out)
    assert abs(len(y) / 22050 - 2.0) < 0.1
    y2 = load_audio(out.read_bytes())  # upload path: bytes, no file name
    assert abs(len(y2) - len(y)) < 2000


@pytest.mark.parametrize("loader", ["soundfile", "librosa", "ffmpeg"])
def test_every_loader_setting_decodes_wav(tmp_path, loader):
    path = tmp_path / "a.wav"
    sf.write(path, tone(440, 1.0, 8000), 8000)
    assert abs(len(load_audio(path, loader=loader)) - 22050) <= 3


def test_unknown_loader_is_a_clear_error(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(), 22050)
    with pytest.raises(AudioError, match="AUDIO_LOADER"):
        load_audio(path, loader="gstreamer")


@pytest.mark.parametrize("content,msg", [
    (b"", "empty"),
    (b"hello, this is a text file and not audio\n" * 10, "could not decode"),
    (np.random.default_rng(0).bytes(5000), "could not decode"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "could not decode"),  # truncated header
])
def test_bad_files_raise_audio_error(tmp_path, content, msg):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=msg):
        load_audio(path)
    if content:
        with pytest.raises(AudioError, match=msg):
            load_audio(content)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_non_finite_samples_are_rejected(tmp_path):
    x = tone(440, 0.5, 22050)
    x[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path)
    with pytest.raises(AudioError, match="NaN or infinite"):
        check_waveform(x)


def test_zero_length_wav(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.float32), 22050)
    with pytest.raises(AudioError):
        load_audio(path)


@pytest.mark.parametrize("seconds", [9, 75])
def test_block_by_block_decoding_equals_one_resample_of_the_whole_file(tmp_path, seconds):
    """Files are read in blocks; a clip is resampled in one call, a long file (over
    ONE_SHOT_SECONDS) as it is read (bounded memory): the samples are the same as decoding
    the whole file and resampling it at once, either way."""
    import soxr

    from envaudio.audio import _Sink

    assert 9 < _Sink.ONE_SHOT_SECONDS < 75
    x = np.random.default_rng(1).standard_normal((44100 * seconds + 123, 2)).astype(np.float32) * 0.1
    path = tmp_path / "long.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    whole = soxr.resample(x.mean(axis=1), 44100, 22050, quality="HQ")
    assert np.array_equal(load_audio(path), whole)


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_limits_bound_ffmpeg_and_nothing_bounds_the_command_line(tmp_path):
    from envaudio.audio import AudioTooLong, DecodeLimits
    from server_helpers import aac_silence, hls_playlist

    long = tmp_path / "long.aac"
    long.write_bytes(aac_silence(11 * 60))
    with pytest.raises(AudioTooLong, match="limit of 600 s"):
        load_audio(long, limits=DecodeLimits(max_seconds=600))
    assert abs(len(load_audio(long)) / 22050 - 660) < 3  # (AAC padding) the CLI's own files: no limit
    playlist = tmp_path / "list.m3u8"  # by path too: ffmpeg opens only audio containers
    playlist.write_bytes(hls_playlist(long))
    with pytest.raises(AudioError, match="could not decode"):
        load_audio(playlist)


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 7, 8, 12])
def test_downmix_is_the_channels_mean_exactly(channels):
    """The fast mix-down gives numpy's mean to the bit (decoded files, streams and arrays
    keep their samples whichever path mixes them)."""
    from envaudio.audio import downmix

    x = np.random.default_rng(channels).uniform(-1, 1, (44100, channels)).astype(np.float32)
    y = downmix(x)
    assert y.dtype == np.float32 and y.shape == (44100,) and y.flags.writeable
    np.testing.assert_array_equal(y, x.mean(axis=1))
    np.testing.assert_array_equal(check_waveform(x.T), x.mean(axis=1))  # (channels, samples) too


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("FLAC", "PCM_16"),
                                         ("FLAC", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT")])
@pytest.mark.parametrize("channels", [1, 2])
def test_integer_pcm_read_as_integers_gives_libsndfiles_floats(tmp_path, fmt, subtype, channels):
    """16- and 24-bit files are read as integers and scaled in numpy (faster): the samples
    are libsndfile's float conversion to the bit, full scale and the most negative code included."""
    x = np.random.default_rng(7).uniform(-1, 1, (22050 * 2, channels))
    x[:3] = [[1.0] * channels, [-1.0] * channels, [0.0] * channels]
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, x, 22050, format=fmt, subtype=subtype)
    want = sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1)
    np.testing.assert_array_equal(load_audio(path, 22050, "soundfile"), want)
