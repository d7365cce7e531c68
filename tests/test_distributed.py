"""DistributedDataParallel training for real: `torchrun --standalone --nproc_per_node 2 -m
envaudio train` on CPU (gloo) on a tiny UrbanSound8K-layout dataset, next to a
single-process run with the same arguments. Rank 0 alone writes, and what it writes has
the single-process format (model, labels, card, training log, checkpoint)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import write_dataset

pytestmark = pytest.mark.slow

EPOCHS, BATCH = 2, 2
PER_CLASS, N_CLASSES = 4, 3  # 12 training clips (fold 1), 12 validation clips (fold 2)


def _train(cmd: list[str], out: Path, work: Path, data: Path, cache: str) -> dict:
    args = ["train", "--data-root", str(data), "--train-folds", "1", "--val-folds", "2",
            "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--device", "cpu",
            "--workers", "1", "--quiet", "--out", str(out)]
    env = dict(os.environ, ENVAUDIO_CACHE_DIR=str(work / cache), OMP_NUM_THREADS="1",
               PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=work, timeout=240)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return {"out": out, "run_dir": out.parent / (out.stem + "_run"), "stdout": r.stdout,
            "stderr": r.stderr, "seconds": time.monotonic() - t0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("ddp")
    data = write_dataset(work / "us8k", per_class=PER_CLASS, folds=(1, 2))
    single = _train([sys.executable, "-m", "envaudio"], work / "single" / "model.pt", work, data,
                    "cache-single")
    # Its own feature cache: rank 0 fills it while rank 1 waits at the barrier.
    ddp = _train([sys.executable, "-m", "torch.distributed.run", "--standalone",
                  "--nproc_per_node", "2", "-m", "envaudio"],
                 work / "ddp" / "model.pt", work, data, "cache-ddp")
    return {"single": single, "ddp": ddp, "work": work, "data": data}


def _card(run: dict) -> dict:
    return json.loads(Path(str(run["out"]) + ".card.json").read_text())


def _log(run: dict) -> list[dict]:
    with open(run["run_dir"] / "train_log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_torchrun_trains_two_processes(runs):
    ddp = runs["ddp"]
    assert "2 process(es)" in ddp["stdout"], ddp["stdout"]
    assert "1 process(es)" in runs["single"]["stdout"]
    # Rank 0 alone reports (one line per epoch, one summary), the other rank is quiet.
    assert ddp["stdout"].count("member 1 epoch") == EPOCHS, ddp["stdout"]
    assert ddp["stdout"].count("saved ") == 1
    card = _card(ddp)
    assert card["world_size"] == 2 and _card(runs["single"])["world_size"] == 1
    assert card["device"] == "cpu"
    assert card["n_train_clips"] == PER_CLASS * N_CLASSES
    assert card["epochs_max"] == EPOCHS and card["members"] == 1


def test_same_outputs_as_a_single_process_run(runs):
    single, ddp = runs["single"], runs["ddp"]
    names = lambda run: sorted(p.name for p in run["out"].parent.iterdir())  # noqa: E731
    assert names(ddp) == names(single) == ["model.envaudio", "model.pt", "model.pt.card.json",
                                          "model.pt.labels.json", "model_run"]
    assert sorted(p.name for p in ddp["run_dir"].iterdir()) == \
        sorted(p.name for p in single["run_dir"].iterdir()) == \
        ["checkpoint.pt", "train_log.csv", "training_curve.png"]
    assert json.loads(Path(str(ddp["out"]) + ".labels.json").read_text()) == \
        json.loads(Path(str(single["out"]) + ".labels.json").read_text())
    c1, c2 = _card(single), _card(ddp)
    assert set(c1) == set(c2)
    assert c1["train_config"] == c2["train_config"] and c1["features"] == c2["features"]
    log1, log2 = _log(single), _log(ddp)
    assert list(log1[0]) == list(log2[0])
    assert [(r["member"], r["epoch"]) for r in log2] == [("1", str(e)) for e in range(1, EPOCHS + 1)]
    assert all(float(r["train_loss"]) > 0 and 0 <= float(r["val_acc"]) <= 1 for r in log2)
    ckpt = torch.load(ddp["run_dir"] / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert ckpt["member"] == 1 and len(ckpt["done_members"]) == 1 and len(ckpt["history"]) == EPOCHS


def test_rank0_model_loads_and_classifies(runs):
    from envaudio.loading import load_model
    from envaudio.predict import Classifier

    model = load_model(runs["ddp"]["out"])
    labels = json.loads(Path(str(runs["ddp"]["out"]) + ".labels.json").read_text())
    assert model.labels == labels and len(labels) == N_CLASSES
    assert model.card["world_size"] == 2
    clip = next((runs["data"] / "audio" / "fold2").glob("*.wav"))
    pred = Classifier(model).classify_file(clip)
    assert pred.average_label in labels
    assert sum(p for _, p in pred.top_k(N_CLASSES)) == pytest.approx(1.0, abs=1e-4)


def test_every_rank_took_optimizer_steps(runs):
    """Per-rank evidence that both processes trained (the card records each rank's
    optimizer steps), each on half of the clips."""
    card, single = _card(runs["ddp"]), _card(runs["single"])
    n = PER_CLASS * N_CLASSES
    assert single["steps_per_rank"] == [(n // BATCH) * EPOCHS]
    assert card["steps_per_rank"] == [(n // 2 // BATCH) * EPOCHS] * 2
