"""Response models: they document the API at /docs and let the tests check real
responses against the declared shape. (The heavy endpoints render their JSON in a
worker thread and return it as is; these models are not on that hot path.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class LabelScore(_Model):
    label: str
    confidence: float = Field(ge=0, le=1)


class TimeTick(_Model):
    value: float = Field(description="seconds")
    label: str


class FreqTick(_Model):
    value: float = Field(description="Hz")
    position: float = Field(description="fractional row index, 0 = lowest mel band")
    label: str


class DbTick(_Model):
    value: float = Field(description="dB")
    label: str


class Spectrogram(_Model):
    """A log-mel spectrogram, quantized to uint8."""

    encoding: str = Field("uint8-base64", description="data = base64 of n_mels * n_frames uint8")
    data: str = Field(description="row-major, row 0 = lowest mel band")
    shape: list[int] = Field(description="[n_mels, n_frames]", min_length=2, max_length=2)
    db_min: float = Field(description="dB value of uint8 0 (dBFS for /predict and /spectrogram; "
                          "the stream's windows: subtract gain_db for dBFS)")
    db_max: float = Field(description="dB value of uint8 255 (linear in between)")
    sample_rate: int
    hop_length: int
    n_fft: int
    n_mels: int
    fmin: float
    fmax: float
    frame_seconds: float = Field(description="seconds per column (larger than hop/sr when a long "
                                             "file was max-pooled over time)")
    time_downsample: int = Field(1, description="STFT frames per column")
    duration: float = Field(description="seconds covered")
    mel_frequencies: list[float] = Field(description="centre frequency of each row, Hz")
    time_ticks: list[TimeTick]
    freq_ticks: list[FreqTick]
    db_ticks: list[DbTick]
    gain_db: float | None = Field(None, description="streaming only: the level change (dB) the "
                                  "RMS normalisation applied to this window; subtract it from the "
                                  "values to get the input's own level")


class WindowPrediction(_Model):
    window_start: float = Field(description="seconds")
    window_end: float = Field(description="seconds")
    label: str | None = Field(description="the window's best class; null where the window is silent")
    confidence: float = Field(description="the best class's probability")
    probabilities: dict[str, float]
    verdict: str = Field("sound", description="'sound', 'silence' (below SILENCE_DBFS: no label) or "
                         "'unknown' (the best class is below the unknown threshold: not sure)")


class SoundEvent(_Model):
    label: str
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    confidence: float = Field(ge=0, le=1, description="the windows' mean probability of the label")


class HeardClass(_Model):
    label: str
    seconds: float = Field(ge=0, description="time covered by this class's events")
    peak_confidence: float = Field(ge=0, le=1, description="its most confident event's confidence")
    confidence: float = Field(ge=0, le=1, description="its events' confidence, weighted by their length")


VERDICT = Field(description="'sound' (events were recognised), 'silence' (the level is below "
                "SILENCE_DBFS) or 'unknown' (sound, but no class is likely enough: not sure)")


class PredictResponse(_Model):
    top_prediction: LabelScore | None = Field(description="the file's answer: the class heard longest "
                                              "(the first of `heard`, with its length-weighted event "
                                              "confidence); null for silence or when nothing was heard "
                                              "confidently (see `top_prediction_reason`)")
    top_prediction_reason: str | None = Field(None, description="why `top_prediction` is null: 'silence' "
                                              "or 'nothing heard confidently'; null when there is one")
    heard: list[HeardClass] = Field(description="every class heard as an event, longest first "
                                    "(several sounds in one file)")
    top_k: list[LabelScore] = Field(description="the windows' average's best guesses, whatever the "
                                    "verdict (empty for silence): not the answer, which is "
                                    "`top_prediction` (the average of a file of several sounds can "
                                    "rank first a class heard in none of its events)")
    probabilities: dict[str, float] = Field(description="the windows' average (see `top_k`)")
    duration: float = Field(description="seconds of audio")
    sample_rate: int = Field(description="the model's sample rate (the audio was resampled to it)")
    windows: list[WindowPrediction] = Field(description="one per analysis window (timeline)")
    verdict: str = VERDICT
    level_dbfs: float = Field(description="the loudest short-term (0.5 s) RMS level, dBFS")
    events: list[SoundEvent] = Field(description="what was heard when: runs of one recognised "
                                     "label, gaps where nothing was; a short event inside a long "
                                     "one is listed after it")
    spectrogram: Spectrogram | None = Field(None, description="left out with reduce_payload=true")
    filename: str | None = None
    compute_ms: float = Field(description="server-side decode + inference + drawing time")


class SpectrogramResponse(_Model):
    duration: float
    sample_rate: int
    filename: str | None = None
    spectrogram: Spectrogram


class HealthResponse(_Model):
    status: str = Field(description="'ok', or 'unavailable' (with HTTP 503)")
    model_loaded: bool
    detail: str | None = Field(None, description="why the model is not available")
    model: str | None = Field(None, description="model file name")
    model_name: str | None = Field(None, description="the bundled model loaded (fast, accurate), or null for another file")
    n_classes: int | None = None
    threads: int | None = Field(None, description="ONNX Runtime's intra-op threads in this worker process")
    torch_threads: int | None = Field(None, description="deprecated: `threads` (the same number)")
    version: str


class LabelsResponse(_Model):
    labels: list[str]
    n_classes: int


class MemberInfo(_Model):
    network: str = Field(description="cnn (22,050 Hz log-mel) or yamnet (16 kHz, AudioSet-pretrained)")
    sample_rate: int
    weight: float = Field(description="its weight in the combination of probabilities")


class ConfigResponse(_Model):
    sample_rate: int = Field(description="the rate audio is decoded at (the highest member rate)")
    duration: float = Field(description="seconds per analysis window (model input)")
    n_mels: int = Field(description="n_mels .. top_db: the log-mel the spectrogram view shows")
    n_fft: int
    hop_length: int
    fmin: float
    fmax: float
    top_db: float
    spectrogram_source: str = Field(description="'cnn': the view is the CNN member's input; "
                                    "'display': no member uses it (computed for display only)")
    spectrogram_sample_rate: int = Field(description="the rate of the log-mel the view shows (sample_rate is "
                                         "the rate audio is decoded at: the model's highest)")
    members: list[MemberInfo]
    window_overlap: float
    window_hop_seconds: float
    stream_duration: float
    stream_hop_seconds: float
    stream_max_frame_seconds: float
    stream_history_seconds: float = Field(description="the stream's `events` cover this")
    silence_dbfs: float = Field(description="below this level an input is 'silence'")
    unknown_threshold: float = Field(description="below this probability of the best class: "
                                     "'unknown' (0: never); with per-class thresholds, the lowest")
    unknown_thresholds: dict[str, float] = Field(description="each class's unknown threshold (THRESHOLDS, "
                                                 "MIN_CONFIDENCE; all equal without them)")
    thresholds_source: str | None = Field(description="where per-class thresholds or a minimum confidence "
                                          "came from; null: the model's own threshold")
    event_hop_seconds: float = Field(description="analysis windows for events start this often")
    stream_min_sample_rate: int
    stream_max_sample_rate: int
    max_upload_mb: float
    max_audio_seconds: float
    top_k_default: int
    labels: list[str]
    n_classes: int
    model: str = Field(description="the loaded model's file name")
    model_name: str | None = Field(description="the bundled model loaded (fast, accurate), or null for another file")
    model_card: dict
    version: str


class ExampleItem(_Model):
    file: str
    label: str
    source: str | None = None
    attribution: str | None = None
    license: str | None = None
    url: str = Field(description="where to GET the audio")


class ErrorResponse(_Model):
    detail: str


def validation_message(errors: list[dict]) -> str:
    """Pydantic/FastAPI validation errors as one readable line: "field: problem; ..."."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


# WebSocket messages (documentation and tests; WebSockets are not part of OpenAPI).

STREAM_MIN_RATE, STREAM_MAX_RATE = 8000, 192000  # Hz a stream may be sent at
TOP_K_DEFAULT = 3  # labels in `top_k` when the client does not say (REST and stream)


class StreamConfig(BaseModel):
    """The client's first message on /ws/predict."""

    model_config = ConfigDict(extra="ignore")
    type: str | None = None
    sample_rate: int = Field(ge=STREAM_MIN_RATE, le=STREAM_MAX_RATE)
    duration: float | None = Field(None, gt=0)
    top_k: int | None = Field(None, ge=1)
    reduce_payload: bool | None = None


class WsReady(_Model):
    type: str = "ready"
    sample_rate: int
    model_sample_rate: int
    window_seconds: float
    hop_seconds: float
    max_frame_seconds: float
    top_k: int
    labels: list[str]


class WsStatus(_Model):
    type: str = "status"
    buffered_seconds: float
    window_seconds: float
    current_dbfs: float


class WsPrediction(_Model):
    type: str = "prediction"
    time: float = Field(description="seconds of audio received (since the start or the last reset)")
    window_start: float
    window_end: float
    top_prediction: LabelScore | None = Field(description="this window's answer: its best class when "
                                              "`verdict` is 'sound'; null in silence or when the best "
                                              "class is below the unknown threshold (see "
                                              "`top_prediction_reason`), as /predict's")
    top_prediction_reason: str | None = Field(None, description="why `top_prediction` is null: 'silence' "
                                              "or 'nothing heard confidently'; null when there is one")
    top_k: list[LabelScore] = Field(description="this window's best guesses, whatever the verdict "
                                    "(empty for silence)")
    probabilities: dict[str, float]
    verdict: str = VERDICT
    level_dbfs: float = Field(description="this window's loudest short-term level, dBFS")
    current_dbfs: float = Field(description="the level of the latest hop of audio, dBFS")
    events: list[SoundEvent] = Field(description="events of the last STREAM_HISTORY_SECONDS "
                                     "(stream seconds)")
    spectrogram: Spectrogram | None = None
    compute_ms: float


class WsError(_Model):
    type: str = "error"
    error: str
