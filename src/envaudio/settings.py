"""One settings object for the whole package, read from the environment.

Every knob has a default here and nowhere else. Names follow the original design
(`SAMPLE_RATE`, `N_MELS`, ...); each can be overridden by an environment variable
`ENVAUDIO_<NAME>`. The four deployment variables of the original design
(`ALLOWED_ORIGINS`, `MAX_UPLOAD_MB`, `AUDIO_LOADER`, `FFMPEG_TIMEOUT_SECONDS`) are
also read without the prefix, so existing deployments keep working; so are
`ALLOWED_HOSTS`, their companion, and `INFERENCE_BACKEND`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import SettingsError
from .frontends import FeatureConfig

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS = PACKAGE_DIR / "assets"
# The models shipped in the package, by name (`--model NAME`, ENVAUDIO_MODEL,
# `load_classifier(NAME)`): one fast network, and the ensemble it was distilled from. Model
# files (modelfile.py: run without PyTorch); their training files are in the repository's
# models/ folder, not in the package.
BUNDLED_MODELS = {"fast": ASSETS / "fast.envaudio", "accurate": ASSETS / "accurate.envaudio"}
DEFAULT_MODEL = "fast"
BUNDLED_MODEL = BUNDLED_MODELS[DEFAULT_MODEL]


def bundled_name(path: str | os.PathLike) -> str | None:
    """The name of a bundled model file ("fast", "accurate"), None for any other file."""
    try:
        p = Path(path).resolve()
    except OSError:
        return None
    return next((name for name, f in BUNDLED_MODELS.items() if f.resolve() == p), None)


def resolve_model(name_or_path: str | os.PathLike | None = None) -> Path:
    """A bundled model's name ("fast", "accurate") or a model file -> the file (the default
    model for None or "")."""
    text = str(name_or_path or "").strip() or DEFAULT_MODEL
    if text in BUNDLED_MODELS:
        return BUNDLED_MODELS[text]
    return Path(text).expanduser()

# Read bare (without the ENVAUDIO_ prefix) for compatibility with the original design.
_BARE_ENV = {"allowed_origins", "allowed_hosts", "max_upload_mb", "audio_loader",
             "ffmpeg_timeout_seconds", "inference_backend"}
# Old names still read (after the current one): setting -> variable.
_OLD_ENV = {"threads": "ENVAUDIO_TORCH_THREADS"}


INFERENCE_BACKENDS = ("auto", "onnxruntime", "torch")


_F = FeatureConfig()  # the feature defaults live in FeatureConfig alone


@dataclass(frozen=True)
class Settings:
    # audio + features (defaults for training; a loaded model brings its own)
    sample_rate: int = _F.sample_rate
    duration: float = _F.duration
    n_fft: int = _F.n_fft
    hop_length: int = _F.hop_length
    n_mels: int = _F.n_mels
    fmin: float = _F.fmin
    top_db: float = _F.top_db
    rms_normalize: bool = _F.rms_normalize
    rms_target: float = _F.rms_target
    pad_mode: str = _F.pad_mode
    # long audio: 4-s windows, 50% overlap
    window_overlap: float = 0.5
    # events (events.py): what was heard and when
    # Below this short-term level (dBFS, RMS re full scale, loudest 0.5 s) an input is
    # "silence". -65: just below the quietest real recordings (of 2,148 UrbanSound8K clips,
    # 3 measure under -65, the quietest -71.5: a distant siren; benchmarks/bench_levels.py).
    silence_dbfs: float = -65.0
    # The best class's probability below which a window is "unknown" (not sure). 0: the
    # model file's calibrated threshold (`envaudio calibrate`); a model without one never
    # says "unknown".
    unknown_threshold: float = 0.0
    # Per-class unknown thresholds (thresholds.py): a CSV file of label,threshold (`envaudio
    # thresholds` writes one from reviewed detections), or the same as an inline JSON
    # object. Classes it does not name keep the one number above.
    thresholds: str = ""
    # A floor under every class's unknown threshold: windows less sure than this name nothing.
    min_confidence: float = 0.0
    event_hop_seconds: float = 1.0  # windows for events every 1 s: onsets within 1 s
    event_frame_seconds: float = 0.1  # resolution of event times and of the level envelope
    level_block_seconds: float = 0.5  # the short-term level is averaged over this
    min_event_seconds: float = 0.5  # shorter runs of one label are not reported
    max_gap_seconds: float = 0.5  # shorter gaps inside one label are bridged
    stream_history_seconds: float = 30.0  # the live stream's recent events cover this
    # sound levels (levels.py)
    # The dB SPL of a full-scale RMS of 1.0: 94 minus what a 94-dB calibrator reads, in
    # dBFS (`--calibration-db`). 0: no calibration, the levels are dBFS.
    calibration_db: float = 0.0
    levels_interval_seconds: float = 60.0  # analyze's x.levels.csv and monitor's levels.csv
    # streaming
    stream_duration: float = 4.0
    stream_hop_seconds: float = 0.5
    stream_n_mels: int = 64
    stream_max_frame_seconds: float = 5.0
    # training
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3
    epochs: int = 60
    patience: int = 15
    seed: int = 1234
    mixup_alpha: float = 0.4
    spec_augment: bool = True
    time_mask_param: int = 24
    freq_mask_param: int = 10
    num_time_masks: int = 2
    num_freq_masks: int = 2
    model_width: int = 16
    dropout: float = 0.3
    stretch: float = 0.15  # random time / frequency scaling of the spectrogram, +-15 %
    eq_db: float = 6.0  # random EQ tilt, +-dB
    lowpass_p: float = 0.15  # share of batches' examples low-passed (as a low-rate recorder)
    class_weights: bool = True  # square-root inverse class frequency
    # Waveform-domain variants computed once and cached (too slow to redo every epoch):
    # "ps:N" pitch shift by N semitones, "ts:R" time stretch by rate R. Off by default:
    # "ps:-2,ps:2,ts:0.85,ts:1.15" lowered held-out accuracy here (docs/MODEL_CARD.md, "What was tried").
    wave_augment: str = ""
    wave_augment_p: float = 0.5  # share of training examples drawn from a variant
    ema_decay: float = 0.995
    label_smoothing: float = 0.05
    keep_best: bool = True  # with validation: keep the best epoch's weights (else the last epoch's)
    # datasets other than UrbanSound8K (a folder per class, or a file,label[,fold] CSV)
    val_fraction: float = 0.2  # without folds: share of each class's clips that validates
    test_fraction: float = 0.2  # ... and that is held out for testing, when a test split is asked for
    max_windows_per_file: int = 8  # long recordings: training windows taken per file (evenly spread)
    min_clips_per_class: int = 10  # fewer: a warning (below 2 per class: an error)
    small_data_clips_per_class: int = 100  # `--recipe auto`: the small-data recipe below this mean
    # fine-tuning a pretrained network (YAMNet; the CNN has no pretrained layers)
    pretrained: str = ""  # YAMNet's yamnet.npz; nothing is ever downloaded
    backbone_lr_scale: float = 0.1  # pretrained layers learn at this times LEARNING_RATE
    freeze_layers: int = 0  # YAMNet layers 1..N keep their pretrained weights
    # torchrun: rank 0 may spend long on the feature cache while the others wait at a barrier
    dist_timeout_minutes: float = 120.0
    # serving
    allowed_origins: str = (
        "http://localhost:5173,http://127.0.0.1:5173,http://localhost:8000,http://127.0.0.1:8000"
    )
    # Host names the server answers for (besides localhost, 127.0.0.1, ::1 and the address
    # it is bound to); "*" allows any. Refusing the others stops DNS-rebinding pages.
    allowed_hosts: str = ""
    max_upload_mb: float = 50.0
    max_audio_seconds: float = 600.0  # uploads: longer audio is refused (413), decoding stops there
    min_audio_seconds: float = 0.05  # uploads: shorter is refused (422); UrbanSound8K's shortest is 54 ms
    min_sample_rate: int = 1000  # uploads: the file's own rate, Hz (1 Hz made 599 samples "599 s")
    max_sample_rate: int = 384000
    audio_loader: str = "ffmpeg"  # ffmpeg | soundfile | librosa
    ffmpeg_timeout_seconds: float = 20.0
    max_concurrent_uploads: int = 8  # per worker: received + decoded + classified at once; more wait
    header_timeout_seconds: float = 10.0  # a request's headers must arrive within this
    upload_timeout_seconds: float = 60.0  # an upload's whole body must arrive within this
    max_streams: int = 16  # WebSocket streams per worker; more are refused (close 1013)
    stream_config_timeout_seconds: float = 10.0  # a stream must send its config within this
    stream_idle_timeout_seconds: float = 60.0  # a stream that sends nothing for this long is closed
    shutdown_grace_seconds: float = 5.0  # on SIGTERM, running requests get this long, then a 503
    # The model every command without `--model` uses: a bundled model's name (fast, accurate)
    # or a model file. MODEL_PATH, the original design's name, is a file and wins when set.
    model: str = DEFAULT_MODEL
    model_path: str = ""
    # Who runs the networks (predict, evaluate, the server and the stream): torch,
    # onnxruntime, or auto (onnxruntime when installed: the faster here, docs/performance.md).
    inference_backend: str = "auto"
    serve_host: str = "127.0.0.1"  # the address `envaudio serve --host` binds (an allowed host)
    serve_workers: int = 1  # uvicorn worker processes (`envaudio serve --workers`)
    # ONNX Runtime's intra-op threads per process (each server worker, each `analyze`
    # worker, `predict`); 0: the available cores (// SERVE_WORKERS when serving).
    # ENVAUDIO_TORCH_THREADS, its old name, is read too.
    threads: int = 0
    cache_dir: str = field(default_factory=lambda: str(Path.home() / ".cache" / "envaudio"))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get(f"ENVAUDIO_{f.name.upper()}")
            if raw is None and f.name in _BARE_ENV:
                raw = env.get(f.name.upper())
            if raw is None and f.name in _OLD_ENV:
                raw = env.get(_OLD_ENV[f.name])
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls(), f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**values)
        s.validate()
        return s

    @classmethod
    def names_in_env(cls, env: dict[str, str] | None = None) -> set[str]:
        """The settings the environment sets (so a network's recipe does not override them)."""
        env = os.environ if env is None else env
        return {f.name for f in fields(cls) if f"ENVAUDIO_{f.name.upper()}" in env
                or (f.name in _BARE_ENV and f.name.upper() in env) or (f.name in _OLD_ENV and _OLD_ENV[f.name] in env)}

    def validate(self) -> None:
        if self.audio_loader not in ("ffmpeg", "soundfile", "librosa"):
            raise SettingsError(
                f"AUDIO_LOADER must be ffmpeg, soundfile or librosa, not {self.audio_loader!r}"
            )
        parse_wave_variants(self.wave_augment)
        if self.inference_backend not in INFERENCE_BACKENDS:
            raise SettingsError(f"INFERENCE_BACKEND must be one of {', '.join(INFERENCE_BACKENDS)}, "
                                f"not {self.inference_backend!r}")
        if self.pad_mode not in ("loop", "zero"):
            raise SettingsError(f"PAD_MODE must be loop or zero, not {self.pad_mode!r}")
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "max_upload_mb",
                     "duration", "ffmpeg_timeout_seconds", "stream_duration", "max_audio_seconds",
                     "min_sample_rate", "max_concurrent_uploads", "header_timeout_seconds",
                     "upload_timeout_seconds", "max_streams", "stream_config_timeout_seconds",
                     "stream_idle_timeout_seconds", "event_hop_seconds", "event_frame_seconds",
                     "level_block_seconds", "stream_history_seconds", "levels_interval_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name.upper()} must be positive")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise SettingsError("VAL_FRACTION and TEST_FRACTION must be in [0, 1) with a sum below 1")
        if self.max_windows_per_file < 1:
            raise SettingsError("MAX_WINDOWS_PER_FILE must be at least 1")
        if self.min_sample_rate > self.max_sample_rate:
            raise SettingsError("MIN_SAMPLE_RATE must not be above MAX_SAMPLE_RATE")
        if not 0.0 <= self.unknown_threshold < 1.0:
            raise SettingsError("UNKNOWN_THRESHOLD must be in [0, 1)")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise SettingsError("MIN_CONFIDENCE must be in [0, 1]")
        if self.min_event_seconds < 0 or self.max_gap_seconds < 0:
            raise SettingsError("MIN_EVENT_SECONDS and MAX_GAP_SECONDS must not be negative")
        if self.threads < 0:
            raise SettingsError("THREADS must not be negative (0: the available cores)")
        if self.min_audio_seconds < 0 or self.shutdown_grace_seconds < 0:
            raise SettingsError("MIN_AUDIO_SECONDS and SHUTDOWN_GRACE_SECONDS must not be negative")

    def model_file(self, given: str | os.PathLike | None = None) -> Path:
        """The model file for `--model given` (a name or a file), else MODEL_PATH, else MODEL."""
        return resolve_model(given or self.model_path or self.model)

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(**{f.name: getattr(self, f.name) for f in fields(FeatureConfig)
                                if hasattr(self, f.name)})

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def hosts(self) -> list[str]:
        """Host names (lower case, IPv6 without brackets) the server answers for."""
        extra = [h for h in self.allowed_hosts.split(",") if h.strip()]
        bound = [] if self.serve_host in ("", "0.0.0.0", "::") else [self.serve_host]  # wildcard binds name no host
        return list(dict.fromkeys(normalize_host(h) for h in ["localhost", "127.0.0.1", "::1", *bound, *extra]))

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


def normalize_host(host: str) -> str:
    """ "Example.org." -> "example.org", "[::1]" -> "::1" (a Host header's name, without port)."""
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def parse_wave_variants(text: str) -> list[str]:
    """ "ps:-2,ts:1.1" -> ["ps:-2", "ts:1.1"], checked (pitch shift in semitones, time-stretch
    rate)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, value = part.partition(":")
        try:
            v = float(value)
        except ValueError:
            v = None
        if kind not in ("ps", "ts") or v is None or (kind == "ts" and not 0.25 <= v <= 4):
            raise SettingsError(f"WAVE_AUGMENT: cannot use {part!r} (write e.g. ps:-2,ps:2,ts:0.9)")
        out.append(f"{kind}:{v:g}")
    return out


def _parse(name: str, raw: str, typ: type):
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return typ(raw)
    except ValueError:
        raise SettingsError(f"{name.upper()}={raw!r} is not a valid {typ.__name__}") from None


def _cgroup_cpu_limit(root: Path) -> float | None:
    """CPUs allowed by a cgroup quota (v2 `cpu.max`, else v1 `cpu.cfs_*`); None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = float(quota), float(period)
    except ValueError:  # "max": no limit
        return None
    return q / p if q > 0 and p > 0 else None  # v1 writes -1 for no limit


def available_cpus(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """Cores this process may use: the CPU affinity mask, capped by a cgroup CPU quota
    (`docker run --cpus`, Kubernetes limits), which os.cpu_count() does not see."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(Path(cgroup_root))
    if limit is not None:
        n = min(n, max(1, int(limit + 0.5)))
    return max(1, n)


def get_settings() -> Settings:
    return Settings.from_env()
