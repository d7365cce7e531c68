"""Your own sounds: a folder per class or a CSV -> train -> evaluate -> predict -> serve,
with generated recordings (tones, chirps, noise bursts; WAV and FLAC; some 12 s long)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from websockets.sync.client import connect

from envaudio.datasets.clips import Clip
from envaudio.datasets.splits import cv_folds, split_folds
from envaudio.training.loop import window_index
from conftest import CUSTOM_CLASSES, SUBSET, make_custom_sound, run_cli, write_class_folders
from server_helpers import ServerProcess, wav

PRETRAINED = SUBSET.parents[1] / "pretrained" / "yamnet" / "yamnet.npz"
LABELS = sorted(CUSTOM_CLASSES)


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    """A folder-per-class dataset and a CNN trained on it for 2 epochs through the CLI."""
    tmp = tmp_path_factory.mktemp("custom")
    data = write_class_folders(tmp / "my sounds", per_class=8, long_every=4)
    out = tmp / "model.pt"
    r = run_cli("train", "--data-root", data, "--epochs", "2", "--out", out, "--test-split", "--quiet",
                env={"ENVAUDIO_CACHE_DIR": str(tmp / "cache")})
    assert r.returncode == 0, r.stderr
    return data, out, r


def one_line_error(r) -> str:
    """The one error line (warnings said before it may precede it)."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if not l.startswith("warning: ")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("envaudio train: error: "), lines
    return lines[0]


def test_train_detects_the_folder_layout_and_writes_the_model(custom):
    data, out, r = custom
    assert f"data: {data}: a folder per class; 24 clips, 3 classes" in r.stdout
    assert "training on 12 clips, validating on 6" in r.stdout  # of 8 per class: 2 validate, 2 test
    assert "training windows from 12 clips" in r.stdout  # the 12-s recordings give several
    assert "test split: accuracy" in r.stdout
    assert "3 class(es) with fewer than 10 clips" in r.stderr  # a warning, not an error
    card = json.loads(Path(str(out) + ".card.json").read_text())
    assert card["labels"] == LABELS and json.loads(Path(str(out) + ".labels.json").read_text()) == LABELS
    assert card["dataset"] == "my sounds" and card["dataset_layout"] == "folders"
    assert card["dataset_citation"] is None and card["train_folds"] is None
    assert card["split"] == {"seed": 1234, "val_fraction": 0.2, "test_fraction": 0.2}
    assert card["n_train_windows"] > card["n_train_clips"] == 12


def test_evaluate_on_custom_data_report_confusion_matrix_and_json(custom, tmp_path):
    data, out, _ = custom
    js = tmp_path / "ev.json"
    r = run_cli("evaluate", "--data-root", data, "--model", out, "--json", js, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Confusion matrix" in r.stdout and "chirp ↗" in r.stdout
    m = json.loads(js.read_text())
    assert m["labels"] == LABELS and m["n"] == 24 and np.array(m["confusion_matrix"]).shape == (3, 3)
    assert m["folds"] is None and (tmp_path / "ev.png").stat().st_size > 1000
    r = run_cli("evaluate", "--data-root", data, "--model", out, "--split", "test", "--json", js, "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(js.read_text())["n"] == 6  # 2 of each class's 8 (the fraction 0.2, rounded)
    assert "the test split of" in r.stdout


def test_predict_uses_the_models_labels(custom, tmp_path):
    data, out, _ = custom
    r = run_cli("predict", data / LABELS[0], "--model", out, "--json", "-")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert results and all(set(res["probabilities"]) == set(LABELS) for res in results)
    r = run_cli("predict", data / LABELS[0], "--model", out, "--csv", "-")
    header = r.stdout.splitlines()[0].split(",")
    start = header.index("verdict") + 1  # one column per class, in the model's order, after the verdict
    assert header[start:start + len(LABELS)] == LABELS


def test_serve_a_custom_model_over_http_and_websocket(custom):
    _, out, _ = custom
    x = make_custom_sound(1, 3.0, 16000, 7)
    for args, env in ((["--model", str(out)], {}), ([], {"ENVAUDIO_MODEL_PATH": str(out)})):
        with ServerProcess(*args, env=env) as srv:
            assert httpx.get(srv.base + "/labels").json() == {"labels": LABELS, "n_classes": 3}
            cfg = httpx.get(srv.base + "/config").json()
            assert cfg["labels"] == LABELS and cfg["model_card"]["dataset"] == "my sounds"
            pred = httpx.post(srv.base + "/predict", files={"file": ("c.wav", wav(x, 16000), "audio/wav")},
                              timeout=60).json()
            assert set(pred["probabilities"]) == set(LABELS) and pred["top_prediction"]["label"] in LABELS
            assert all(e["label"] in LABELS for e in pred["events"] if e.get("label"))
            with connect(srv.ws_base + "/ws/predict", open_timeout=20) as ws:
                ws.send(json.dumps({"sample_rate": 16000}))
                ready = json.loads(ws.recv(timeout=30))
                assert ready["type"] == "ready" and ready["labels"] == LABELS
                audio = np.tile(x, 2).astype("<f4")
                for i in range(0, len(audio), 8000):  # 0.5-s frames, as the web app sends
                    ws.send(audio[i:i + 8000].tobytes())
                while (m := json.loads(ws.recv(timeout=30)))["type"] == "status":
                    pass
                assert m["type"] == "prediction", m
                assert set(m["probabilities"]) == set(LABELS) and m["top_prediction"]["label"] in LABELS
            srv.assert_clean_log()


def write_table(path: Path, rows: list[list[str]], header=("file", "label", "fold")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_layout_with_and_without_folds(tmp_path):
    data = write_class_folders(tmp_path / "d", per_class=6, classes=["a", "b"])
    files = sorted(p for p in data.rglob("*") if p.is_file())
    rows = [[str(p.relative_to(tmp_path)), p.relative_to(data).parts[0], str(1 + i % 3)]
            for i, p in enumerate(files)]
    table = write_table(tmp_path / "t.csv", rows)
    r = run_cli("train", "--table", table, "--epochs", "1", "--out", tmp_path / "m.pt", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "a CSV table; 12 clips, 2 classes (a, b), folds [1, 2, 3]" in r.stdout
    card = json.loads((tmp_path / "m.pt.card.json").read_text())
    assert card["train_folds"] == [1, 2] and card["val_folds"] == [3]  # the last fold validates
    table2 = write_table(tmp_path / "t2.csv", [r[:2] for r in rows], header=("file", "label"))
    r = run_cli("train", "--table", table2, "--epochs", "1", "--out", tmp_path / "m2.pt", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "no folds" in r.stdout and "training on 10 clips, validating on 2" in r.stdout
    r = run_cli("evaluate", "--table", table2, "--model", tmp_path / "m2.pt", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and "on " + str(table2) in r.stdout


def test_cross_validation_with_k_folds_on_data_without_folds(tmp_path):
    data = write_class_folders(tmp_path / "d", per_class=3, classes=["a", "b"])
    r = run_cli("train", "--data-root", data, "--cv", "3", "--epochs", "1", "--out", tmp_path / "m.pt",
                "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "m_run" / "cv_results.json").read_text())
    assert [f["test_fold"] for f in res["folds"]] == [1, 2, 3] and all(f["n"] == 2 for f in res["folds"])


@pytest.mark.skipif(not PRETRAINED.is_file(), reason="YAMNet weights not in ../shared/pretrained")
def test_transfer_from_yamnet_picks_the_small_data_recipe(tmp_path):
    data = write_class_folders(tmp_path / "d", per_class=5)
    r = run_cli("train", "--data-root", data, "--pretrained", PRETRAINED, "--epochs", "2",
                "--out", tmp_path / "m.pt", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "recipe: small (YAMNet layers 1-10 frozen, 2 epochs, batch 16, last epoch kept)" in r.stdout
    tc = json.loads((tmp_path / "m.pt.card.json").read_text())["train_config"]
    assert tc["backbone"] == "yamnet" and tc["recipe"] == "small" and tc["freeze_layers"] == 10
    assert tc["keep_best"] is False
    # The frozen layers kept their AudioSet weights; the head learnt.
    import torch

    from envaudio.networks.yamnet import read_npz

    state = torch.load(tmp_path / "m.pt", weights_only=True)["members"][0]["state"]
    pre = read_npz(PRETRAINED)
    for key in ("tower.layer1.1.weight", "tower.layer10.pointwise.weight"):
        assert torch.equal(state[key].float(), torch.as_tensor(pre[key]).float()), key
    assert not torch.equal(state["tower.layer14.pointwise.weight"].float(),
                           torch.as_tensor(pre["tower.layer14.pointwise.weight"]).float())


# ---- bad layouts: one clear line naming the files, exit 2, nothing written ------------------

def _bad(tmp_path, make):
    data = write_class_folders(tmp_path / "d", per_class=3, classes=["a", "b"])
    make(data)
    return data


@pytest.mark.parametrize("make, args, message", [
    (lambda d: (d / "c").mkdir(), [], "class folder(s) with no audio files"),
    (lambda d: shutil.rmtree(d / "b"), [],
     "only one class (a); a classifier needs at least two"),
    (lambda d: [p.unlink() for p in sorted((d / "b").rglob("*.*"))[1:]], [],
     "1 class(es) with fewer than 2 clips: b (e.g. b:"),
    (lambda d: (d / "a" / "broken.wav").write_bytes(b"RIFF not really a wav" * 20), [],
     "1 file(s) could not be decoded (fix or remove them):"),
    (lambda d: None, ["--cv", "5"], "--cv 5: class 'a' has only 3 clips (needs at least 5)"),
    (lambda d: None, ["--train-folds", "1"], "has no folds: use --val-split/--test-split or --cv K"),
    (lambda d: None, ["--cv"], "has no folds: say how many to make, e.g. --cv 5"),
    (lambda d: None, ["--recipe", "small"], "--recipe small is for fine-tuning YAMNet"),
    (lambda d: None, ["--val-split", "0.5", "--test-split", "0.5"], "VAL_FRACTION and TEST_FRACTION"),
])
def test_bad_folder_layouts(tmp_path, make, args, message):
    data = _bad(tmp_path, make)
    r = run_cli("train", "--data-root", data, "--epochs", "1", "--out", tmp_path / "out" / "m.pt", "--quiet",
                *args)
    line = one_line_error(r)
    assert message in line, line
    if "decoded" in message:
        assert "broken.wav" in line
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_folder_that_is_no_dataset(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.wav").write_bytes(wav(np.zeros(16000, np.float32), 16000))
    line = one_line_error(run_cli("train", "--data-root", tmp_path / "flat", "--out", tmp_path / "m.pt"))
    assert "neither an UrbanSound8K folder" in line and "folder per class" in line


@pytest.mark.parametrize("rows, header, message", [
    ([["x.wav", "a"]], ("path", "class"), "needs a header with the columns file,label"),
    ([["missing.wav", "a"], ["gone/y.flac", "b"]], ("file", "label"), "2 listed file(s) not found:"),
    ([["d/a/clip00.wav", ""]], ("file", "label"), "empty file or label on line(s) 2"),
    ([["d/a/clip00.wav", "a", "one"]], ("file", "label", "fold"), "the fold must be a whole number"),
    ([], ("file", "label"), "lists no files"),
])
def test_bad_tables(tmp_path, rows, header, message):
    write_class_folders(tmp_path / "d", per_class=2, classes=["a", "b"])
    table = write_table(tmp_path / "t.csv", rows, header)
    line = one_line_error(run_cli("train", "--table", table, "--out", tmp_path / "m.pt"))
    assert message in line, line


def test_loose_files_and_small_classes_are_warnings(tmp_path):
    data = write_class_folders(tmp_path / "d", per_class=4, classes=["a", "b"])
    sf.write(data / "stray.wav", np.zeros(8000, np.float32), 16000)
    r = run_cli("train", "--data-root", data, "--epochs", "1", "--out", tmp_path / "m.pt", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "ignored 1 audio file(s) directly in" in r.stderr and "stray.wav" in r.stderr
    assert "2 class(es) with fewer than 10 clips (more give a better model): a (4), b (4)" in r.stderr


# ---- the split and the windows ---------------------------------------------------------------

def _clips(counts: dict[str, int]) -> list[Clip]:
    return [Clip(f"/x/{l}/{i:03d}.wav", l, 0, k) for k, (l, n) in enumerate(counts.items()) for i in range(n)]


def test_split_is_stratified_and_fixed_by_the_seed():
    clips = _clips({"a": 20, "b": 10, "c": 5})
    s1 = split_folds(clips, 0.2, 0.2, seed=1)
    fold_of = lambda split: {c.file_path: c.fold for c in split}  # noqa: E731
    assert fold_of(split_folds(list(reversed(clips)), 0.2, 0.2, seed=1)) == fold_of(s1)  # listing order
    per = {(l, f): sum(c.label == l and c.fold == f for c in s1) for l in "abc" for f in (1, 2, 3)}
    assert (per["a", 2], per["a", 3], per["b", 2], per["c", 2], per["c", 3]) == (4, 4, 2, 1, 1)
    assert split_folds(clips, 0.2, 0.2, seed=2) != s1


def test_cv_folds_are_stratified_and_even():
    folds = cv_folds(_clips({"a": 7, "b": 5}), 4, seed=0)
    sizes = [sum(c.fold == f for c in folds) for f in (1, 2, 3, 4)]
    assert sum(sizes) == 12 and max(sizes) - min(sizes) <= 1
    assert all(0 < sum(c.fold == f and c.label == "b" for c in folds) <= 2 for f in (1, 2, 3, 4))


def test_long_recordings_give_windows_capped_per_file():
    feats = [np.zeros((1, 2)), np.zeros((5, 2)), np.zeros((30, 2))]
    pairs = window_index(feats, cap=8)
    assert [w for i, w in pairs if i == 0] == [0] and [w for i, w in pairs if i == 1] == list(range(5))
    long = [w for i, w in pairs if i == 2]
    assert len(long) == 8 and long[0] == 0 and long[-1] == 29  # evenly spread, first to last
