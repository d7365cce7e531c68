#!/usr/bin/env python3
"""Generate docs/configuration.md from the Settings dataclass (src/envaudio/settings.py).

    python scripts/config_docs.py            # rewrite docs/configuration.md
    python scripts/config_docs.py --print    # print it instead
    python scripts/config_docs.py --check    # exit 1 if docs/configuration.md is stale

For every field of `envaudio.settings.Settings`: its name, type, default, the environment
variables that set it (`ENVAUDIO_<NAME>`, and the bare `<NAME>` for the few the settings
also read without the prefix) and a description. The description is the field's
`metadata["help"]` if it has one, else its comment in settings.py: the trailing `# ...` of
its line, or the comment block just above it. Comment lines that start in lower case and
come before any line starting in upper case are section headings ("# streaming"), which
group the tables. A field without either falls back to DESCRIPTIONS below.

Only the part of the page between the GENERATED markers is rewritten: the hand-written
text above and below them is kept as it is.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from envaudio import settings as settings_module  # noqa: E402
from envaudio.frontends import FeatureConfig  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED: scripts/config_docs.py; edit settings.py, not this table -->"
END = "<!-- END GENERATED -->"

# Used only for fields that settings.py gives no comment (a comment there wins).
DESCRIPTIONS = {
    "sample_rate": "the CNN's sample rate, Hz: audio is resampled to it",
    "duration": "analysis window, s: short clips are looped to it, long audio is cut into windows of it",
    "n_fft": "FFT size of the CNN's log-mel",
    "hop_length": "hop of the CNN's log-mel, samples",
    "n_mels": "mel bands of the CNN's log-mel",
    "fmin": "lowest mel frequency of the CNN's log-mel, Hz",
    "top_db": "dynamic range of the CNN's log-mel, dB",
    "rms_normalize": "standardise each window's level (RMS) before the CNN's log-mel",
    "rms_target": "the RMS a window is normalised to",
    "window_overlap": "overlap of the windows long audio is cut into (0.5: 50 %)",
    "dist_timeout_minutes": "torchrun: how long the other ranks wait while the feature cache is filled",
    "stream_duration": "the live stream's window, s (the model's own window is used if they differ)",
    "stream_hop_seconds": "the live stream gives a prediction every this many seconds of audio received",
    "stream_n_mels": "mel bands of the stream's spectrogram (the model's own are used if they differ)",
    "stream_max_frame_seconds": "longest binary frame a stream may send, s (longer: an error, the frame is dropped)",
    "batch_size": "training batch size (per process under torchrun)",
    "learning_rate": "learning rate (`--lr`)",
    "weight_decay": "AdamW weight decay",
    "epochs": "training epochs (`--epochs`; with validation, early stopping may end sooner)",
    "patience": "early stopping: epochs without improvement on the validation fold (`--patience`)",
    "seed": "random seed (`--seed`); also draws the splits of data without folds",
    "mixup_alpha": "mixup alpha, 0 = off (`--mixup`)",
    "spec_augment": "SpecAugment masks in training (`--no-spec-augment` turns them off)",
    "time_mask_param": "SpecAugment: longest time mask",
    "freq_mask_param": "SpecAugment: longest frequency mask, mel bands",
    "num_time_masks": "SpecAugment: time masks per example",
    "num_freq_masks": "SpecAugment: frequency masks per example",
    "model_width": "CNN: channels of the first conv block (`--width`)",
    "dropout": "dropout before the classifier",
    "ema_decay": "decay of the exponential moving average of the weights",
    "label_smoothing": "label smoothing of the training loss",
    "allowed_origins": "comma-separated CORS allowlist",
    "max_upload_mb": "upload size limit, MB (413 above it)",
    "max_sample_rate": "uploads: the highest sample rate of the file itself accepted, Hz (422 above)",
    "audio_loader": "`ffmpeg`, `soundfile` or `librosa`: the decoder for what libsndfile can't read",
    "ffmpeg_timeout_seconds": "decode timeout, s (422 after it)",
    "model_path": "the model file `envaudio serve` (and every command without `--model`) uses",
    "cache_dir": "the feature cache, and the ONNX Runtime graphs (in `onnx/`)",
}


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """line number -> (comment text, whether the comment is the whole line)."""
    out = {}
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            line = tok.start[0]
            whole = lines[line - 1][: tok.start[1]].strip() == ""
            out[line] = (tok.string.lstrip("#").strip(), whole)
    return out


def field_comments(cls) -> dict[str, tuple[str, str]]:
    """field name -> (section heading, description) from the class's source comments."""
    source = Path(inspect.getsourcefile(cls)).read_text()
    comments = _comments(source)
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    parsed = []  # (name, heading lines, description)
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        block, line = [], stmt.lineno - 1
        while line in comments and comments[line][1]:  # the comment lines just above
            block.insert(0, comments[line][0])
            line -= 1
        first_upper = next((i for i, t in enumerate(block) if t[:1].isupper()), len(block))
        text = " ".join(block[first_upper:])
        trailing = [comments[n][0] for n in range(stmt.lineno, stmt.end_lineno + 1)
                    if n in comments and not comments[n][1]]
        text = " ".join([text, *trailing]).strip()
        parsed.append((stmt.target.id, " ".join(block[:first_upper]), text))
    out, section = {}, ""
    for i, (name, heading, text) in enumerate(parsed):
        if heading:
            covers = 1 + next((k for k, p in enumerate(parsed[i + 1:]) if p[1]), len(parsed) - i - 1)
            if covers == 1 and not text:  # a lower-case comment over one field describes it
                text = heading
            else:
                section = heading
        out[name] = (section, text)
    return out


def _default(f: dataclasses.Field, value) -> str:
    if value == str(settings_module.BUNDLED_MODEL):
        return f"the bundled model (`envaudio/assets/{settings_module.BUNDLED_MODEL.name}`)"
    text = repr(value) if isinstance(value, str) else str(value)
    home = str(Path.home())
    if isinstance(value, str) and value.startswith(home):
        text = repr("~" + value[len(home):])
    if text == "''":
        return "(empty)"
    if isinstance(value, str) and "," in value:
        return ", ".join(f"`{v}`" for v in value.split(","))
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows():
    """(section, name, type, default, env names, description) for every setting."""
    Settings = settings_module.Settings
    defaults = Settings()
    comments = field_comments(Settings)
    features = field_comments(FeatureConfig)  # the feature fields' defaults come from there
    for f in dataclasses.fields(Settings):
        section, text = comments.get(f.name, ("", ""))
        text = (f.metadata.get("help") or text or features.get(f.name, ("", ""))[1]
                or DESCRIPTIONS.get(f.name, ""))
        env = [f"ENVAUDIO_{f.name.upper()}"]
        if f.name in Settings.names_in_env({f.name.upper(): "1"}):  # also read without the prefix
            env.append(f.name.upper())
        typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        yield section, f.name, typ, _default(f, getattr(defaults, f.name)), env, text


def table() -> str:
    out, section = [], None
    for sec, name, typ, default, env, text in rows():
        if sec != section:
            section = sec
            heading = (sec[:1].upper() + sec[1:]) if sec else "Other"
            out += ["", f"### {heading}", "",
                    "| setting | environment | type | default | what |",
                    "| --- | --- | --- | --- | --- |"]
        env_cell = "<br>".join(f"`{e}`" for e in env)
        out.append(f"| `{name.upper()}` | {env_cell} | {typ} | {_cell(default)} | {_cell(text)} |")
    return "\n".join(out).strip("\n")


TEMPLATE = f"""# Configuration

Every setting is one field of the settings object in `src/envaudio/settings.py`.

{BEGIN}
{END}
"""


def render(current: str | None) -> str:
    """The page with a fresh table, keeping the hand-written text around the markers."""
    page = current if current and BEGIN in current and END in current else TEMPLATE
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{table()}\n\n{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    ap.add_argument("--print", dest="print_", action="store_true", help="print the page")
    ap.add_argument("--path", type=Path, default=DOC, help="the page (default: docs/configuration.md)")
    args = ap.parse_args(argv)
    current = args.path.read_text() if args.path.is_file() else None
    page = render(current)
    if args.check:
        if current != page:
            print(f"{args.path} is stale: run python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    if args.print_:
        sys.stdout.write(page)
        return 0
    args.path.write_text(page)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
