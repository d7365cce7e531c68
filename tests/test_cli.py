"""prepare -> train -> evaluate -> predict through the real command line, on a tiny
generated dataset in the UrbanSound8K layout; and clear one-line errors."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from envaudio.loading import load_model
from conftest import CLASSES, noise, run_cli, tone, write_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real (tiny) training run shared by the tests below."""
    work = tmp_path_factory.mktemp("run")
    root = write_dataset(work / "us8k", per_class=4, folds=(1, 2, 3), ext=".flac")
    table = work / "table.csv"
    r = run_cli("prepare", "--data-root", root, "--out", table)
    assert r.returncode == 0, r.stderr
    r = run_cli("train", "--table", table, "--train-folds", "1", "--val-folds", "2", "--epochs", "2",
                "--batch-size", "4", "--out", work / "model" / "cnn.pt", "--quiet", "--test-folds", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    return {"work": work, "root": root, "table": table, "model": work / "model" / "cnn.pt", "out": r.stdout}


def test_prepare_writes_table_with_official_columns(trained):
    lines = trained["table"].read_text().splitlines()
    assert lines[0] == "file_path,label,fold,classID,salience"
    assert len(lines) == 1 + 3 * 3 * 4
    # the metadata says .wav, the files are .flac: found by stem
    assert all(l.split(",")[0].endswith(".flac") for l in lines[1:])


def test_prepare_reports_missing_files(tmp_path):
    root = write_dataset(tmp_path / "d", per_class=2, folds=(1,))
    victim = next((root / "audio" / "fold1").iterdir())
    victim.unlink()
    r = run_cli("prepare", "--data-root", root, "--out", tmp_path / "t.csv")
    assert r.returncode == 0
    assert "1 clip(s) listed in the metadata have no audio file" in r.stderr
    assert victim.stem in r.stderr


def test_train_outputs(trained):
    model = trained["model"]
    run_dir = model.parent / "cnn_run"
    labels = json.loads((model.parent / "cnn.pt.labels.json").read_text())
    card = json.loads((model.parent / "cnn.pt.card.json").read_text())
    assert labels == CLASSES
    assert card["train_folds"] == [1] and card["val_folds"] == [2]
    assert card["n_train_clips"] == 12 and card["epochs_max"] == 2
    assert 0.0 <= card["val_metrics"]["accuracy"] <= 1.0 and card["training_seconds"] > 0
    log = (run_dir / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("member,epoch,lr,train_loss") and len(log) == 3
    assert (run_dir / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    loaded = load_model(model)
    assert loaded.labels == CLASSES and loaded.card["git_commit"] is None or isinstance(loaded.card["git_commit"], str)
    assert "test folds 3: accuracy" in trained["out"]
    # Beside the training file, its model file (what predict runs without PyTorch): the
    # same card, the same answers.
    deployable = load_model(model.with_suffix(".envaudio"))
    assert deployable.graph is not None and deployable.card == loaded.card
    r = run_cli("predict", trained["root"] / "audio" / "fold3", "--model", model.with_suffix(".envaudio"), "--json", "-")
    r_pt = run_cli("predict", trained["root"] / "audio" / "fold3", "--model", model, "--json", "-")
    assert r.returncode == r_pt.returncode == 0, r.stderr + r_pt.stderr
    for a, b in zip(json.loads(r.stdout), json.loads(r_pt.stdout)):
        assert a["file"] == b["file"] and a["top_k"][0]["label"] == b["top_k"][0]["label"]
        assert max(abs(a["probabilities"][l] - b["probabilities"][l]) for l in CLASSES) <= 1e-5
    assert str(model.with_suffix(".envaudio")) in trained["out"]


def test_evaluate_json_and_plot(trained):
    out = trained["work"] / "eval" / "metrics.json"
    r = run_cli("evaluate", "--data-root", trained["root"], "--folds", "3", "--model", trained["model"],
                "--json", out, "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    assert {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n"} <= set(m)
    assert m["n"] == 12 and np.asarray(m["confusion_matrix"]).sum() == 12
    assert np.trace(np.asarray(m["confusion_matrix"])) / 12 == pytest.approx(m["accuracy"])
    assert set(m["per_class"]) == set(CLASSES)
    assert "precision    recall  f1-score   support" in r.stdout and "clips/s" in r.stdout
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert m["trained_on_test_folds"] is False and m["model_train_folds"] == [1]  # fold 3 is unseen
    assert "warning" not in r.stderr


def test_evaluate_on_training_folds_says_so(trained):
    out = trained["work"] / "eval" / "on-train.json"
    r = run_cli("evaluate", "--data-root", trained["root"], "--folds", "1,3", "--model", trained["model"],
                "--json", out, "--quiet")
    assert r.returncode == 0, r.stderr
    warning = "warning: cnn.pt was trained on fold(s) 1 (its card's train_folds)"
    assert r.stderr.count(warning) == 2  # before the run, and again under the report
    m = json.loads(out.read_text())
    assert m["trained_on_test_folds"] is True and m["folds"] == [1, 3]


def test_trained_on_reads_the_card():
    from envaudio.evaluate import trained_on

    assert trained_on({"train_folds": [1, 2, 3]}, [3, 10]) == [3]
    assert trained_on({"train_folds": [1, 2]}, [10]) == []
    assert trained_on({}, [1]) is None and trained_on(None, [1]) is None  # an old or custom model
    assert trained_on({"train_folds": None}, [1]) is None


def test_evaluate_on_a_root_with_only_the_test_fold(trained, tmp_path):
    root = write_dataset(tmp_path / "only10", per_class=2, folds=(10,))
    r = run_cli("evaluate", "--data-root", root, "--folds", "10", "--model", trained["model"], "--quiet",
                "--plot", tmp_path / "cm.png")
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and (tmp_path / "cm.png").exists()


def test_predict_file_dir_json_csv(trained, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "a.wav", tone(200, 2.0, 44100), 44100)
    sf.write(d / "long.flac", noise(10.0, 22050, 0.1), 22050)
    r = run_cli("predict", d, "--model", trained["model"], "--top-k", "2", "--json", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "p.json").read_text())
    assert [os.path.basename(x["file"]) for x in res] == ["a.wav", "long.flac"]
    assert len(res[0]["top_k"]) == 2 and len(res[0]["windows"]) == 1
    wins = res[1]["windows"]
    assert [(w["window_start"], w["window_end"]) for w in wins] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    avg = np.mean([[w["probabilities"][c] for c in CLASSES] for w in wins], axis=0)
    assert np.allclose(avg, [res[1]["probabilities"][c] for c in CLASSES], atol=1e-5)
    r = run_cli("predict", d / "long.flac", "--model", trained["model"], "--csv", "-")
    assert r.returncode == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0])[:9] == ["file", "window_start", "window_end", "label", "confidence", "verdict",
                                 "hum", "hiss", "clicks"]
    assert len(rows) == 4
    assert [row["verdict"] for row in rows] == [w["verdict"] for w in wins]  # the JSON's, row by row


def test_windows_csv_and_table_carry_the_verdict(trained, tmp_path):
    """Issue #30: a window under the threshold read `street_music,0.3121` in the CSV where
    the JSON and the web app said "not sure"; a silent window has no label."""
    path = tmp_path / "quiet-then-noise.wav"
    sf.write(path, np.concatenate([np.zeros(6 * 22050, np.float32), noise(6.0, 22050, 0.2)]), 22050)
    env = {"ENVAUDIO_UNKNOWN_THRESHOLD": "0.999"}  # no window of this model is that sure
    r = run_cli("predict", path, "--model", trained["model"], "--json", "-", env=env)
    wins = json.loads(r.stdout)[0]["windows"]
    assert {w["verdict"] for w in wins} == {"silence", "unknown"}, wins
    r = run_cli("predict", path, "--model", trained["model"], "--windows", "--csv", "-", env=env)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(float(x["window_start"]), x["verdict"], x["label"]) for x in rows] == \
        [(w["window_start"], w["verdict"], w["label"] or "") for w in wins]
    r = run_cli("predict", path, "--model", trained["model"], "--windows", env=env)
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{path}: not sure: nothing heard confidently (best guess "), lines[0]
    table = lines[1:]
    assert len(table) == len(wins)
    for line, w in zip(table, wins):
        assert (line.endswith("silence") if w["verdict"] == "silence"
                else f"not sure, best guess {w['label']} ({w['confidence']:.2f})" in line), (line, w)


def test_predict_files_after_options_and_each_commands_usage(trained, tmp_path):
    """Files after an option count (argparse's intermixed parsing); a command's error shows
    that command's usage, not the top-level one."""
    a, b = tmp_path / "a.wav", tmp_path / "b.flac"
    sf.write(a, tone(300, 1.0), 22050)
    sf.write(b, noise(1.0), 22050)
    r = run_cli("predict", a, "--model", trained["model"], "--events", b, "--json", "-")
    assert r.returncode == 0, r.stderr
    assert [x["file"] for x in json.loads(r.stdout)] == [str(a), str(b)]
    for args, usage, error in [
        (["predict", a, "--bogus"], "usage: envaudio predict", "envaudio predict: error: unrecognized arguments: --bogus"),
        (["predict", "--top-k", "x", a], "usage: envaudio predict", "envaudio predict: error: argument --top-k"),
        (["predict"], "usage: envaudio predict", "envaudio predict: error: the following arguments are required"),
        (["train", "--epochs", "many"], "usage: envaudio train", "envaudio train: error: argument --epochs"),
        (["--bogus", "predict", a], "usage: envaudio [-h]", "envaudio: error: unrecognized arguments: --bogus"),
        (["bogus"], "usage: envaudio [-h]", "envaudio: error: argument COMMAND: invalid choice: 'bogus'"),
    ]:
        r = run_cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert lines[0].startswith(usage) and lines[-1].startswith(error), (args, r.stderr)


def test_predict_into_a_closed_pipe_exits_quietly(tmp_path):
    """`envaudio predict DIR --csv - | head -3`: head leaves after 3 lines; the rest of the
    output goes nowhere, without a BrokenPipeError traceback."""
    d = tmp_path / ("recordings-with-a-long-folder-name-" * 4)  # long rows: more than a pipe holds
    d.mkdir()
    sf.write(d / "long.wav", noise(600.0, 8000, 0.1), 8000)
    script = (f'"{sys.executable}" -m envaudio predict "{d}" --csv - 2> "{tmp_path / "err"}" | head -3; '
              f'echo "${{PIPESTATUS[0]}}" > "{tmp_path / "rc"}"')
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert len(r.stdout.splitlines()) == 3 and r.stdout.startswith("file,window_start")
    assert (tmp_path / "err").read_text() == ""
    assert (tmp_path / "rc").read_text().strip() == "141"  # as a tool killed by SIGPIPE


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_predict_checks_its_output_path_before_classifying(tmp_path, option):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(40):
        sf.write(d / f"{i}.wav", noise(30.0, 22050, 0.1, seed=i), 22050)
    t0 = time.monotonic()
    r = run_cli("predict", d, option, "/no/such/dir/out.file")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"envaudio predict: error: {option} /no/such/dir/out.file: no such folder /no/such/dir"
    assert time.monotonic() - t0 < 20  # not after 20 min of audio were classified
    r = run_cli("predict", d, option, tmp_path)  # a folder is not a file either
    assert r.returncode == 2 and "is a folder" in r.stderr


def test_predict_human_output(trained):
    r = run_cli("predict", trained["root"] / "audio" / "fold1", "--model", trained["model"])
    assert r.returncode == 0
    assert len(r.stdout.strip().splitlines()) == 12 and "window(s)" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["predict", "/no/such/file.wav"], "no such file or folder"),
    (["evaluate", "--data-root", "/no/such/root"], "data root not found"),
    (["train", "--data-root", "/no/such/root"], "data root not found"),
    (["prepare", "--data-root", "/tmp"], "UrbanSound8K.csv not found"),
    (["predict", "x.wav", "--model", "/no/model.pt"], None),
    (["train", "--data-root", "/tmp", "--train-folds", "one"], None),
])
def test_errors_are_one_clear_line(args, msg, tmp_path):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("envaudio")
    if msg:
        assert msg in lines[0]


def test_bad_setting_in_environment_is_one_line(tmp_path):
    r = run_cli("predict", "x.wav", env={"ENVAUDIO_N_MELS": "lots"}, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "envaudio: error: N_MELS='lots' is not a valid int"


def test_predict_bad_audio_file(trained, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 50)
    good = tmp_path / "good.wav"
    sf.write(good, tone(), 22050)
    r = run_cli("predict", bad, good, "--model", trained["model"])
    assert r.returncode == 1  # the batch goes on, and the exit status says a file failed
    assert f"{bad}: could not decode" in r.stderr and "Traceback" not in r.stderr
    assert f"{good}:" in r.stdout  # paths shown alike, as given
    assert "1 file(s) classified, 1 failed" in r.stderr.splitlines()[-1]
    r = run_cli("predict", bad, "--model", trained["model"])
    assert r.returncode == 1


def test_corrupt_model_file(tmp_path):
    m = tmp_path / "m.pt"
    m.write_bytes(b"garbage")
    sf.write(tmp_path / "x.wav", tone(), 22050)
    r = run_cli("predict", "x.wav", "--model", m, cwd=tmp_path)
    assert r.returncode == 2 and "not a usable envaudio model" in r.stderr


def test_kill_and_resume(tmp_path):
    """Kill training mid-run: the checkpoint on disk is whole, and --resume finishes the run
    without redoing the finished epochs."""
    root = write_dataset(tmp_path / "d", per_class=6, folds=(1, 2), seconds=1.0)
    out, run_dir = tmp_path / "m" / "cnn.pt", tmp_path / "m" / "run"
    args = ["train", "--data-root", root, "--train-folds", "1", "--val-folds", "2", "--epochs", "40",
            "--batch-size", "2", "--patience", "100", "--out", out, "--run-dir", run_dir, "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "envaudio", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = run_dir / "train_log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 4):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=False)  # loads: written atomically
    done = ckpt["epoch_state"]["epoch"]
    assert 2 <= done < 40 and not out.exists()
    args[args.index("40")] = str(done + 2)
    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed member 1 at epoch {done + 1}" in r.stdout
    assert not list(run_dir.glob("*.tmp"))  # a temp file left by the kill is cleared
    epochs = [int(l.split(",")[1]) for l in log.read_text().splitlines()[1:]]
    assert epochs[-2:] == [done + 1, done + 2]
    assert load_model(out).card["best_epochs"][0] <= done + 2


def test_cross_validation_over_present_folds(tmp_path):
    root = write_dataset(tmp_path / "d", per_class=2, folds=(1, 2, 3), seconds=1.0)
    r = run_cli("train", "--data-root", root, "--cv", "--epochs", "1", "--batch-size", "2",
                "--out", tmp_path / "cv" / "cnn.pt", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((tmp_path / "cv" / "cnn_run" / "cv_results.json").read_text())
    assert [f["test_fold"] for f in res["folds"]] == [1, 2, 3]
    assert [f["val_fold"] for f in res["folds"]] == [2, 3, 1]
    assert res["mean_accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in res["folds"]]))
    assert "mean" in r.stdout


def test_freeze_layers_outside_the_network_is_one_clear_error(tmp_path):
    weights = tmp_path / "yamnet.npz"
    weights.write_bytes(b"")  # checked for existence first; the options come before any reading
    for n in ("-1", "15"):
        r = run_cli("train", "--data-root", tmp_path, "--pretrained", weights, "--freeze-layers", n,
                    "--out", tmp_path / "m.pt")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().splitlines() == ["envaudio train: error: --freeze-layers must be between 0 "
                                                 "and 14 (yamnet has 14 layers)"], r.stderr
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg makes the MP3")
def test_predict_a_damaged_mp3_without_decoder_chatter(tmp_path):
    """libsndfile's mpg123 printed "error: dequantization failed!" and "Illegal Audio-MPEG-Header"
    notes on stderr: only envaudio's own summary line may be there."""
    mp3 = tmp_path / "tone.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=3", str(mp3)],
                   check=True, timeout=60)
    data = bytearray(mp3.read_bytes())
    rng = np.random.default_rng(1)
    for i in range(2000, len(data), 97):  # damage every frame or so, past the header
        data[i] = int(rng.integers(256))
    bad = tmp_path / "damaged.mp3"
    bad.write_bytes(bytes(data))
    r = run_cli("predict", bad, mp3)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == ["envaudio predict: 2 file(s) classified, 0 failed"], r.stderr
