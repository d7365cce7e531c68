"""What a training run leaves behind: the model files, the per-epoch log and the curve."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..model import model_payload, save_model_files
from .config import TrainResult


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except Exception:
        return None


def write_outputs(result: TrainResult, labels: list[str], out: str | Path, run_dir: str | Path,
                  combine: dict | None = None) -> None:
    """Model file + labels JSON + model card JSON + training curve (rank 0 only)."""
    out = Path(out)
    save_model_files(out, model_payload(result.members, labels, result.card, combine))
    plot_history(result.history, Path(run_dir) / "training_curve.png")
    result.model_path = str(out)


def log_epoch(run_dir: str | Path, row: dict, cols: list[str], first: bool) -> None:
    """One epoch's row in RUN_DIR/train_log.csv (a new file, with its header, at the run's
    first epoch), and the validation part of its console line."""
    import csv

    path = Path(run_dir) / "train_log.csv"
    new = first or not path.exists()
    with open(path, "w" if new else "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def validation_text(row: dict) -> str:
    if "val_acc" not in row:
        return ""
    return f"  val acc {row['val_acc']:.3f}  val macro-F1 {row['val_macro_f1']:.3f}"


def plot_history(history: list[dict], path: str | Path) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    members = sorted({h["member"] for h in history})
    for m in members:
        rows = [h for h in history if h["member"] == m]
        ep = [h["epoch"] for h in rows]
        tag = f" (member {m})" if len(members) > 1 else ""
        a1.plot(ep, [h["train_loss"] for h in rows], label="train" + tag)
        if "val_loss" in rows[0]:
            a1.plot(ep, [h["val_loss"] for h in rows], "--", label="validation" + tag)
            a2.plot(ep, [h["val_acc"] for h in rows], label="val accuracy" + tag)
            a2.plot(ep, [h["val_macro_f1"] for h in rows], ":", label="val macro-F1" + tag)
        a2.plot(ep, [h["train_acc"] for h in rows], alpha=0.5, label="train accuracy (augmented)" + tag)
    a1.set_xlabel("epoch"), a1.set_ylabel("loss"), a1.set_title("Loss"), a1.legend(fontsize=7)
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy / F1"), a2.set_ylim(0, 1)
    a2.set_title("Accuracy"), a2.legend(fontsize=7)
    a1.grid(alpha=0.3), a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
