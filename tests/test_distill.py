"""`envaudio distill`: a student network learns a teacher model's answers (training/distill.py).

Real runs on generated audio written to disk: a small CNN teacher trained with `envaudio
train`, a CNN student distilled from it with `envaudio distill`, the student's file loaded
and run by `predict`. With the UrbanSound8K subset and mn04's AudioSet weights, the
zero-shot head is checked on real recordings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import CLASSES, ROOT, make_sound, run_cli, write_dataset
from envaudio.loading import load_model
from envaudio.training.distill import distill_loss, thread_split
from envaudio.training.distill_data import Augment, augmented_batch, crop

MN04 = ROOT.parent / "shared" / "pretrained" / "efficientat-mn04"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, teacher model): a small CNN trained on folds 1-2 of generated sounds."""
    tmp = tmp_path_factory.mktemp("distill")
    root = write_dataset(tmp / "data", per_class=6, folds=(1, 2, 3), seconds=2.0)
    out = tmp / "teacher.pt"
    r = run_cli("train", "--data-root", root, "--train-folds", "1-2", "--val-folds", "none", "--epochs", "10",
                "--batch-size", "8", "--width", "8", "--out", out, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    return root, out


def _log(run_dir: Path) -> list[dict]:
    with open(run_dir / "train_log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_student_learns_the_teachers_answers(teacher, tmp_path):
    root, teacher_file = teacher
    out, run_dir = tmp_path / "student.pt", tmp_path / "run"
    r = run_cli("distill", "--teacher", teacher_file, "--data-root", root, "--backbone", "cnn", "--epochs", "10",
                "--lr", "5e-3", "--batch-size", "8", "--val-folds", "3", "--out", out, "--run-dir", run_dir, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "distilling on 36 clips (folds [1, 2])" in r.stdout  # the teacher's folds by default
    model = load_model(out)
    assert [m.network for m in model.members] == ["cnn"] and model.labels == load_model(teacher_file).labels
    card = json.loads(Path(str(out) + ".card.json").read_text())
    assert card["distillation"]["teacher"] == teacher_file.name
    assert card["train_folds"] == [1, 2] and card["val_folds"] == [3]
    rows = _log(run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 11))
    kl = [float(r["kl"]) for r in rows]
    assert np.mean(kl[-3:]) < kl[0] / 2  # it learns the teacher's probabilities
    assert float(rows[-1]["val_acc"]) >= 0.7  # and what they are worth on a fold neither saw (chance 1/3)
    assert (run_dir / "training_curve.png").stat().st_size > 1000
    wav = next((root / "audio" / "fold3").glob("*.wav"))
    r = run_cli("predict", wav, "--model", out)
    assert r.returncode == 0 and wav.name in r.stdout, r.stdout + r.stderr


def test_resume_continues_after_the_last_epoch(teacher, tmp_path):
    root, teacher_file = teacher
    args = ["distill", "--teacher", teacher_file, "--data-root", root, "--backbone", "cnn", "--batch-size", "8",
            "--out", tmp_path / "s.pt", "--run-dir", tmp_path / "run", "--quiet"]
    r = run_cli(*args, "--epochs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli(*args, "--epochs", "3", "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed at epoch 3" in r.stdout
    assert [int(r["epoch"]) for r in _log(tmp_path / "run")] == [1, 2, 3]


def test_unlabelled_recordings_teach_through_the_teacher(teacher, tmp_path):
    root, teacher_file = teacher
    import soundfile as sf

    extra = tmp_path / "field"
    extra.mkdir()
    for k in range(8):  # a long recording among them
        sf.write(extra / f"rec{k}.flac", make_sound(CLASSES[k % 3], 9.0 if k == 0 else 2.0, 22050, 50 + k), 22050)
    out = tmp_path / "s.pt"
    r = run_cli("distill", "--teacher", teacher_file, "--data-root", root, "--backbone", "cnn", "--epochs", "1",
                "--batch-size", "8", "--unlabeled", extra, "--out", out, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "and 8 unlabelled recordings" in r.stdout
    assert json.loads(Path(str(out) + ".card.json").read_text())["n_unlabeled_files"] == 8


@pytest.mark.parametrize("args, message", [
    (["--backbone", "mn04"], "needs --pretrained"),
    (["--teacher", "no-such-model"], "no bundled model of that name"),
    (["--train-folds", "7"], "no clips in folds [7]"),
])
def test_bad_options_are_one_clear_line(teacher, tmp_path, args, message):
    root, teacher_file = teacher
    base = {"--teacher": str(teacher_file), "--backbone": "cnn"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    r = run_cli("distill", "--data-root", root, *flat, "--out", tmp_path / "s.pt", "--quiet")
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_classes_the_teacher_does_not_know_are_refused(teacher, tmp_path):
    _, teacher_file = teacher
    other = write_dataset(tmp_path / "d", per_class=2, folds=(1,), seconds=1.0)
    meta = other / "metadata" / "UrbanSound8K.csv"
    meta.write_text(meta.read_text().replace(",hum\n", ",drone\n"))
    r = run_cli("distill", "--teacher", teacher_file, "--data-root", other, "--train-folds", "1",
                "--backbone", "cnn", "--out", tmp_path / "s.pt", "--quiet")
    assert r.returncode == 2 and "does not know the classes ['drone']" in r.stderr, r.stderr


def test_a_mix_is_labelled_by_its_clips_shares_of_the_energy():
    class Bank:
        waves = [np.full(8000, 0.1, np.float32), np.full(3000, -0.2, np.float32)]

        def __len__(self):
            return 2

    targets = np.eye(2, dtype=np.float32)
    rng = np.random.default_rng(0)
    aug = Augment(mix_p=1.0, mix_db=(0.0, 0.0), gain_db=(0.0, 0.0), noise_p=0.0)
    x, y = augmented_batch(Bank(), targets, np.array([0, 0, 0, 0]), 16000, aug, rng)
    assert x.shape == (4, 16000) and np.allclose(y.sum(1), 1.0)
    for row in y:  # mixed with itself (partner 0) or with the other clip at 0 dB: half the energy
        assert row[0] == pytest.approx(1.0) or row == pytest.approx([0.5, 0.5])
    short = crop(np.arange(5, dtype=np.float32), 12, rng)  # short clips are looped
    assert sorted(set(short.tolist())) == [0, 1, 2, 3, 4]


def test_the_loss_is_the_kl_to_the_teacher_plus_the_weighted_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    teacher = F.softmax(torch.randn(6, 4), -1)
    truth = torch.zeros(6, 4)
    truth[:3, 1] = 1.0  # the last three are unlabelled
    loss, kl, ce = distill_loss(logits, teacher, truth, 1.0, 0.1)
    assert kl.item() == pytest.approx(F.kl_div(F.log_softmax(logits, -1), teacher, reduction="batchmean").item(), rel=1e-5)
    assert ce.item() == pytest.approx(F.cross_entropy(logits[:3], torch.ones(3, dtype=torch.long)).item(), rel=1e-5)
    assert loss.item() == pytest.approx(kl.item() + 0.1 * ce.item(), rel=1e-6)


def test_the_cores_are_shared_between_teacher_and_student():
    assert thread_split(2, None, None) == (1, 1)
    assert thread_split(16, None, None) == (4, 12)
    assert thread_split(8, 2, 3) == (2, 3)


@pytest.mark.data
def test_the_zero_shot_head_already_knows_a_dog_bark(subset):
    """The student's head starts as AudioSet's classes mapped to ours: before any training
    the student names real UrbanSound8K dog barks and sirens."""
    if not (MN04 / "mn04_as_mAP_432.pt").is_file():
        pytest.skip("mn04's AudioSet weights not present in ../shared/pretrained")
    from envaudio.audio import load_audio
    from envaudio.networks import create_model, mn04
    from envaudio.training.distill import zero_shot_head
    from envaudio.zeroshot import URBANSOUND8K

    labels = sorted(URBANSOUND8K)
    net = create_model("mn04", len(labels), {}, str(MN04)).eval()
    assert zero_shot_head(net, "mn04", str(MN04), labels)
    with open(subset / "metadata" / "UrbanSound8K.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["class"] in ("dog_bark", "siren") and r["fold"] == "1"][:16]
    right = 0
    for r in rows:
        wave = load_audio(subset / "audio" / "fold1" / r["slice_file_name"].replace(".wav", ".flac"), 32000)
        x = torch.from_numpy(mn04.features(wave[None], mn04.Frontend()))
        with torch.no_grad():
            right += labels[int(net(x).argmax())] == r["class"]
    assert right >= 12, f"{right}/16"


@pytest.mark.slow
def test_torchrun_distils_with_two_processes(teacher, tmp_path):
    """DDP as `train` has it: each process distils its half of every epoch with its own
    teacher; rank 0 alone prints and writes."""
    import os
    import subprocess
    import sys

    root, teacher_file = teacher
    out = tmp_path / "ddp" / "s.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "envaudio", "distill", "--teacher", str(teacher_file), "--data-root", str(root),
                        "--backbone", "cnn", "--epochs", "2", "--batch-size", "6", "--device", "cpu",
                        "--workers", "1", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("epoch   1 ") == 1 and r.stdout.count("saved ") == 1, r.stdout
    assert "3 batches of 6 per epoch" in r.stdout  # 36 clips: 18 per process
    card = json.loads(Path(str(out) + ".card.json").read_text())
    assert card["world_size"] == 2 and card["train_folds"] == [1, 2]
    assert [int(row["epoch"]) for row in _log(out.parent / "s_run")] == [1, 2]
    assert load_model(out).labels == load_model(teacher_file).labels
