"""Training: fold protocol, augmentation, checkpoints, ensembles, DDP.

Features come from the cache (one log-mel per clip, computed once); everything that
changes per epoch (time shift, time/frequency stretch, mixup, SpecAugment) is done on
the batch tensors, which costs little next to the network itself.

Run under `torchrun --nproc_per_node N -m envaudio train ...` it trains with
DistributedDataParallel; only rank 0 writes files.
"""

from __future__ import annotations

import csv
import math
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import Clip, DatasetError, FeatureCache, select_folds
from .layouts import US8K_CITATION
from .evaluate import classification_metrics
from .model import atomic_torch_save, member_state, model_payload, save_model_files
from .networks import create_model, get_network
from .settings import Settings, parse_wave_variants


# Hyper-parameters recorded in the model card (read from the settings object).
TRAIN_KEYS = ("epochs", "batch_size", "learning_rate", "weight_decay", "patience", "seed",
              "model_width", "dropout", "mixup_alpha", "spec_augment", "time_mask_param",
              "freq_mask_param", "num_time_masks", "num_freq_masks", "stretch", "eq_db",
              "lowpass_p", "wave_augment", "wave_augment_p", "class_weights", "ema_decay", "label_smoothing",
              "backbone_lr_scale", "freeze_layers", "keep_best", "max_windows_per_file")
_ALIASES = {"lr": "learning_rate", "width": "model_width"}


@dataclass
class TrainConfig:
    """One training run: the hyper-parameters come from the settings object (one place for
    every default, overridable from the environment); the rest says how to run."""

    settings: Settings = field(default_factory=Settings)
    members: int = 1
    device: str = "auto"
    workers: int | None = None
    progress: bool = True
    backbone: str = "cnn"  # a name in networks.NETWORKS
    pretrained: str | None = None  # weights to start from (YAMNet's npz)
    recipe: str = "full"  # "small": the network's SMALL_RECIPE was applied (recorded in the card)

    def __getattr__(self, name: str):
        if name == "settings":  # not set yet (during copy/unpickle)
            raise AttributeError(name)
        return getattr(self.settings, _ALIASES.get(name, name))

    @property
    def network(self):
        return get_network(self.backbone)

    @property
    def arch(self) -> dict:
        return self.network.default_arch(self.settings)

    @property
    def frontend(self):
        return self.network.frontend(self.settings)

    def hyperparameters(self) -> dict:
        return {"backbone": self.backbone, "pretrained": Path(self.pretrained).name if self.pretrained else None,
                "members": self.members, "recipe": self.recipe, **{k: getattr(self.settings, k) for k in TRAIN_KEYS}}


@dataclass
class TrainResult:
    model_path: str | None
    members: list[dict]
    history: list[dict]
    val_metrics: dict | None
    best_epochs: list[int]
    seconds: float
    card: dict = field(default_factory=dict)


# ------------------------------------------------------------------ distributed helpers

def dist_info() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment (1 process otherwise)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


def init_distributed(device: torch.device) -> bool:
    rank, _, world = dist_info()
    if world <= 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        from datetime import timedelta

        # Rank 0 may spend long on the feature cache while the others wait at a barrier.
        minutes = float(os.environ.get("ENVAUDIO_DIST_TIMEOUT_MINUTES", 120))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(minutes=minutes))
    return True


def pick_device(name: str) -> torch.device:
    _, local_rank, _ = dist_info()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DatasetError("--device cuda was asked for, but no CUDA GPU is available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)


# ------------------------------------------------------------------ training loop

class EMA:
    """Exponential moving average of the weights (evaluated and saved instead of the raw
    weights: smoother, and better on held-out folds). The decay ramps up over the first
    steps so early random weights don't linger; BatchNorm statistics are copied."""

    def __init__(self, net: torch.nn.Module, decay: float):
        import copy

        self.module = copy.deepcopy(net).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.steps = decay, 0

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for e, p in zip(self.module.parameters(), net.parameters()):
            e.lerp_(p.detach(), 1 - d)
        for e, b in zip(self.module.buffers(), net.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.steps = state["steps"]


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except Exception:
        return None


def window_index(feats: list[np.ndarray], cap: int) -> list[tuple[int, int]]:
    """(clip, window) pairs to train on: each window of a clip (a long recording gives
    several, each with the clip's label), at most `cap` per clip, evenly spread so one
    long file does not outweigh the rest."""
    out = []
    for i, f in enumerate(feats):
        n = len(f)
        picks = range(n) if n <= cap else np.unique(np.linspace(0, n - 1, cap).round().astype(int))
        out.extend((i, int(w)) for w in picks)
    return out


def _stack(feats: list[np.ndarray], pairs: list[tuple[int, int]]) -> torch.Tensor:
    # A waveform variant (time stretch) may have a window fewer than the original.
    return torch.from_numpy(np.stack([feats[i][min(w, len(feats[i]) - 1)] for i, w in pairs]))


@torch.no_grad()
def predict_tensor(net: torch.nn.Module, x: torch.Tensor, device, batch: int = 128) -> torch.Tensor:
    net.eval()
    out = [F.softmax(net(x[i:i + batch].to(device)), dim=-1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.zeros(0)


def _score(m: dict) -> float:
    return 0.5 * (m["accuracy"] + m["macro_f1"])


class _MemberRun:
    """One network being trained: its optimizer, schedule, EMA and best state so far."""

    def __init__(self, trainer: "Trainer", seed: int):
        cfg, dev = trainer.cfg, trainer.device
        self.t, self.cfg, self.dev = trainer, cfg, dev
        _seed_all(seed)  # identical initial weights on every rank
        self.net = create_model(cfg.backbone, len(trainer.labels), cfg.arch, cfg.pretrained).to(dev)
        _seed_all(seed + 1 + trainer.rank)  # but each rank its own augmentation draws
        self.seed = seed
        groups = cfg.network.param_groups(self.net, cfg.settings)
        self.ema = EMA(self.net, cfg.ema_decay)
        self.model = self.net
        if trainer.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(self.net, device_ids=[dev.index] if dev.type == "cuda" else None)
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        n = trainer.x_train.shape[1]
        self.per_rank = math.ceil(n / trainer.world)
        steps = max(1, self.per_rank // cfg.batch_size) * cfg.epochs
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=[g["lr"] for g in groups], total_steps=steps, pct_start=0.15,
            div_factor=10, final_div_factor=100)
        self.weights = trainer.class_weights().to(dev)
        self.best, self.best_state, self.best_epoch, self.bad = -1.0, None, 0, 0

    def state(self, epoch: int) -> dict:
        return {"net": self.net.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "epoch": epoch, "best": self.best,
                "best_state": self.best_state, "best_epoch": self.best_epoch, "bad": self.bad,
                "rng": torch.get_rng_state()}

    def restore(self, es: dict) -> int:
        """Continue from a checkpoint's epoch state; returns the next epoch."""
        self.net.load_state_dict(es["net"])
        self.ema.load_state_dict(es["ema"])
        self.opt.load_state_dict(es["opt"])
        self.sched.load_state_dict(es["sched"])
        self.best, self.best_state = es["best"], es["best_state"]
        self.best_epoch, self.bad = es["best_epoch"], es["bad"]
        torch.set_rng_state(es["rng"])
        return es["epoch"] + 1

    def train_epoch(self, epoch: int, member: int) -> dict:
        from tqdm import tqdm

        t, cfg, dev = self.t, self.cfg, self.dev
        n = t.x_train.shape[1]
        g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        order = torch.randperm(n, generator=g)
        if t.distributed:  # each rank takes its own slice (as DistributedSampler does)
            order = torch.cat([order, order[: self.per_rank * t.world - n]])[t.rank::t.world]
        self.model.train()
        tot_loss, tot_correct, seen = 0.0, 0, 0
        # Whole batches only (the last partial one is dropped), but at least one: a small
        # dataset with fewer examples than a batch would otherwise never train.
        bar = tqdm(range(max(1, len(order) // cfg.batch_size)), unit="batch", leave=False,
                   desc=f"{cfg.backbone} {member + 1}/{cfg.members} epoch {epoch}/{cfg.epochs}",
                   disable=not (cfg.progress and t.main))
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x, y = t._batch(idx)
            x, y = x.to(dev), y.to(dev)
            y1 = F.one_hot(y, len(t.labels)).float()
            y1 = y1 * (1 - cfg.label_smoothing) + cfg.label_smoothing / len(t.labels)
            xa, ya = cfg.network.augment(x, y1, cfg.settings, t.fe)
            logits = self.model(xa)
            loss = -(ya * self.weights * F.log_softmax(logits, dim=-1)).sum(dim=1).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            t.steps_taken += 1
            self.sched.step()
            self.ema.update(self.net)
            tot_loss += loss.item() * len(idx)
            tot_correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{tot_loss / seen:.3f}")
        bar.close()
        return {"lr": self.sched.get_last_lr()[0], "train_loss": tot_loss / max(seen, 1),
                "train_acc": tot_correct / max(seen, 1)}

    def validate(self, row: dict) -> bool:
        """Scores the EMA weights on the validation clips (into `row`); keeps the best.
        Returns whether to stop early."""
        t = self.t
        probs = predict_tensor(self.ema.module, t.x_val, self.dev)
        vm = classification_metrics(t.y_val.numpy(), probs.argmax(1).numpy(), t.labels)
        row.update(val_loss=float(F.nll_loss(probs.clamp_min(1e-8).log(), t.y_val)),
                   val_acc=vm["accuracy"], val_macro_f1=vm["macro_f1"])
        if not self.cfg.keep_best:  # the validation is only reported
            return self.keep_last(row["epoch"])
        if _score(vm) > self.best:
            self.best, self.best_epoch, self.bad = _score(vm), row["epoch"], 0
            self.best_state = member_state(self.ema.module)
        else:
            self.bad += 1
        return self.bad >= self.cfg.patience

    def keep_last(self, epoch: int) -> bool:
        """Without validation the last epoch's EMA weights are the result."""
        self.best_state, self.best_epoch = member_state(self.ema.module), epoch
        return False


class Trainer:
    """Trains `members` networks one after the other on cached features."""

    def __init__(self, cfg: TrainConfig, labels: list[str],
                 train_clips: list[Clip], val_clips: list[Clip], run_dir: str | Path,
                 folds: dict, dataset: dict | None = None):
        self.cfg, self.labels = cfg, labels
        self.fe = cfg.frontend
        self.train_clips, self.val_clips = train_clips, val_clips
        self.run_dir = Path(run_dir)
        self.folds = folds
        self.dataset = dataset or {}  # the model card's dataset fields (name, layout, split...)
        self.rank, _, self.world = dist_info()
        self.device = pick_device(cfg.device)
        self.distributed = init_distributed(self.device)
        self.main = self.rank == 0
        self.commit = git_commit()  # the code this run started from
        self.steps_taken = 0  # optimizer steps of this process (all members, this run)

    # -- data
    def _cached(self, cache: FeatureCache, clips: list[Clip], desc: str) -> list[np.ndarray]:
        paths = [c.file_path for c in clips]
        if self.distributed:  # rank 0 fills the cache, the others then read it
            import torch.distributed as dist

            if dist_info()[1] == 0:  # local rank 0: one filler per machine
                cache.get_many(paths, self.cfg.workers, self.cfg.progress, desc=desc)
            dist.barrier()
        return cache.get_many(paths, self.cfg.workers, self.cfg.progress and self.main, desc=desc)

    def load_features(self) -> None:
        feats = self._cached(FeatureCache(self.cfg.cache_dir, self.fe),
                             self.train_clips + self.val_clips, "features")
        idx = {l: i for i, l in enumerate(self.labels)}
        n, cap = len(self.train_clips), self.cfg.max_windows_per_file
        self.train_pairs = window_index(feats[:n], cap)
        val_pairs = window_index(feats[n:], cap)
        self.y_train = torch.tensor([idx[self.train_clips[i].label] for i, _ in self.train_pairs])
        self.x_val = _stack(feats[n:], val_pairs) if val_pairs else None
        self.y_val = torch.tensor([idx[self.val_clips[i].label] for i, _ in val_pairs]) if val_pairs else None
        # Waveform variants of the training windows: (variants + 1, n, ...), index 0 the
        # original. Computed once (cached like the originals), drawn from per example.
        stacks = [_stack(feats[:n], self.train_pairs)]
        for v in parse_wave_variants(self.cfg.wave_augment):
            stacks.append(_stack(self._cached(FeatureCache(self.cfg.cache_dir, self.fe, variant=v),
                                              self.train_clips, f"features {v}"), self.train_pairs))
        self.x_train = torch.stack(stacks)

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples idx, each drawn from a waveform variant with probability WAVE_AUGMENT_P."""
        which = torch.zeros(len(idx), dtype=torch.long)
        if self.x_train.shape[0] > 1:
            use = torch.rand(len(idx)) < self.cfg.wave_augment_p
            which = torch.where(use, torch.randint(1, self.x_train.shape[0], (len(idx),)), which)
        return self.x_train[which, idx], self.y_train[idx]

    def class_weights(self) -> torch.Tensor:
        counts = torch.bincount(self.y_train, minlength=len(self.labels)).float()
        if not self.cfg.class_weights:
            return torch.ones(len(self.labels))
        # Square root of inverse frequency: rare classes (gun shot, car horn) count more,
        # but not so much that the model starts calling every rumble a gun shot.
        w = (counts.sum() / (len(self.labels) * counts.clamp_min(1))).sqrt()
        return w / (w * counts).sum() * counts.sum()  # mean weight over the data stays 1

    # -- checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def save_checkpoint(self, state: dict) -> None:
        if self.main:
            atomic_torch_save(state, self.ckpt_path)

    def load_checkpoint(self) -> dict | None:
        if not self.ckpt_path.exists():
            return None
        return torch.load(self.ckpt_path, map_location="cpu", weights_only=False)

    # -- main loop
    def run(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        t_start = time.time()
        self.load_features()  # first: an unreadable file stops the run before anything is written
        if self.main and len(self.train_pairs) > len(self.train_clips):
            print(f"{len(self.train_pairs)} training windows from {len(self.train_clips)} clips (long "
                  f"recordings cut into {self.fe.duration:g}-s windows, at most {cfg.max_windows_per_file} "
                  "per file)", flush=True)
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # A kill during a save leaves its temp file behind (the checkpoint stays whole).
            for stale in self.run_dir.glob(self.ckpt_path.name + ".*.tmp"):
                stale.unlink(missing_ok=True)
        ckpt = self.load_checkpoint() if resume else None
        if resume and ckpt is None and self.main:
            print(f"no checkpoint in {self.run_dir}: starting from scratch")
        done: list[dict] = ckpt["done_members"] if ckpt else []
        history: list[dict] = ckpt["history"] if ckpt else []
        elapsed_before = ckpt["elapsed"] if ckpt else 0.0
        for member in range(len(done), cfg.members):
            state = ckpt if (ckpt and ckpt.get("member") == member and ckpt.get("epoch_state")) else None
            done.append(self._train_member(member, state, done, history, t_start - elapsed_before))
            ckpt = None
        seconds = time.time() - t_start + elapsed_before
        return self._finish(done, history, seconds)

    def _train_member(self, member: int, ckpt: dict | None, done: list[dict], history: list[dict],
                      t0: float) -> dict:
        cfg = self.cfg
        seed = cfg.seed + 1000 * member
        run = _MemberRun(self, seed)
        start_epoch = 1
        if ckpt:
            start_epoch = run.restore(ckpt["epoch_state"])
            if self.rank:  # rank 0's generator state is restored; the others draw their own
                torch.manual_seed(seed + 1 + self.rank + 100003 * start_epoch)
            if self.main:
                print(f"resumed member {member + 1} at epoch {start_epoch}")
        for epoch in range(start_epoch, cfg.epochs + 1):
            te = time.time()
            row = {"member": member + 1, "epoch": epoch, **run.train_epoch(epoch, member)}
            stop = self._agree(run.validate(row) if self.x_val is not None else run.keep_last(epoch))
            row["seconds"] = time.time() - te
            history.append(row)
            if self.main:
                self._log_epoch(row)
            self.save_checkpoint({"member": member, "done_members": done, "history": history,
                                  "elapsed": time.time() - t0, "epoch_state": run.state(epoch)})
            if stop:
                if self.main:
                    print(f"early stop: no validation gain for {cfg.patience} epochs "
                          f"(best epoch {run.best_epoch})")
                break
        # The member is complete: record it so a resume starts on the next one.
        result = {"state": run.best_state, "best_epoch": run.best_epoch, "seed": seed}
        self.save_checkpoint({"member": member + 1, "done_members": done + [result],
                              "history": history, "elapsed": time.time() - t0, "epoch_state": None})
        return result

    def _agree(self, stop: bool) -> bool:
        """Every rank must stop at the same epoch: rank 0 decides."""
        if not self.distributed:
            return stop
        import torch.distributed as dist

        t = torch.tensor([1 if stop else 0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(t, src=0)
        return bool(t.item())

    def _steps_per_rank(self) -> list[int]:
        """Every rank's optimizer steps, gathered on all ranks (rank 0 records them in the
        model card: each process of a torchrun job must have trained)."""
        if not self.distributed:
            return [self.steps_taken]
        import torch.distributed as dist

        t = torch.zeros(self.world, dtype=torch.long,
                        device=self.device if self.device.type == "cuda" else "cpu")
        t[self.rank] = self.steps_taken
        dist.all_reduce(t)
        return [int(s) for s in t.tolist()]

    def _log_epoch(self, row: dict) -> None:
        path = self.run_dir / "train_log.csv"
        cols = ["member", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                "val_macro_f1", "seconds"]
        new = not path.exists() or (row["member"] == 1 and row["epoch"] == 1)
        with open(path, "w" if new else "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        msg = (f"member {row['member']} epoch {row['epoch']:3d}  loss {row['train_loss']:.3f}  "
               f"train acc {row['train_acc']:.3f}")
        if "val_acc" in row:
            msg += f"  val acc {row['val_acc']:.3f}  val macro-F1 {row['val_macro_f1']:.3f}"
        print(msg + f"  ({row['seconds']:.1f} s)", flush=True)

    def _finish(self, done: list[dict], history: list[dict], seconds: float) -> TrainResult:
        steps_per_rank = self._steps_per_rank()  # a collective: every rank gets here
        members = [{"network": self.cfg.backbone, "arch": self.cfg.arch, "features": self.fe.to_dict(),
                    "state": d["state"]} for d in done]
        val_metrics = None
        if self.x_val is not None:
            from .model import from_payload

            model = from_payload(model_payload(members, self.labels, {}), inference=False)
            probs = model.predict_windows({self.fe.key(): self.x_val.numpy()})
            val_metrics = classification_metrics(self.y_val.numpy(), probs.argmax(1), self.labels)
        card = {
            "name": f"envaudio {self.cfg.backbone}",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": self.commit,
            "dataset": "UrbanSound8K",
            "dataset_citation": US8K_CITATION,
            "train_folds": self.folds.get("train"),
            "val_folds": self.folds.get("val"),
            **self.dataset,
            "n_train_clips": len(self.train_clips),
            "n_train_windows": len(self.train_pairs),
            "n_val_clips": len(self.val_clips),
            "members": len(done),
            "epochs_max": self.cfg.epochs,
            "best_epochs": [d["best_epoch"] for d in done],
            "val_metrics": None if val_metrics is None else {
                "accuracy": val_metrics["accuracy"], "macro_f1": val_metrics["macro_f1"],
                "n": val_metrics["n"]},
            "training_seconds": round(seconds, 1),
            "world_size": self.world,
            "steps_per_rank": steps_per_rank,
            "device": str(self.device),
            "train_config": self.cfg.hyperparameters(),
            "features": self.fe.to_dict(),
            "labels": self.labels,
        }
        return TrainResult(None, members, history, val_metrics, [d["best_epoch"] for d in done],
                           seconds, card)


def write_outputs(result: TrainResult, labels: list[str], out: str | Path, run_dir: str | Path,
                  combine: dict | None = None) -> None:
    """Model file + labels JSON + model card JSON + training curve (rank 0 only)."""
    out = Path(out)
    save_model_files(out, model_payload(result.members, labels, result.card, combine))
    plot_history(result.history, Path(run_dir) / "training_curve.png")
    result.model_path = str(out)


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


def train(clips: list[Clip], labels: list[str], train_folds: list[int], val_folds: list[int],
          cfg: TrainConfig, out: str | Path | None, run_dir: str | Path,
          resume: bool = False, dataset: dict | None = None) -> TrainResult:
    """dataset: model card fields that describe the data (default UrbanSound8K's); with
    "split" in it the folds are a split made here, not the data's own."""
    train_clips = select_folds(clips, train_folds)
    val_clips = select_folds(clips, val_folds)
    if not train_clips:
        present = sorted({c.fold for c in clips})
        raise DatasetError(f"no clips in training folds {train_folds} (folds present: {present})")
    trainer = Trainer(cfg, labels, train_clips, val_clips, run_dir,
                      {"train": sorted({c.fold for c in train_clips}),
                       "val": sorted({c.fold for c in val_clips})}, dataset)
    if trainer.main:
        where = (("", "") if dataset and dataset.get("split") else
                 (f" (folds {trainer.folds['train']})", f" (folds {trainer.folds['val'] or 'none'})"))
        print(f"training on {len(train_clips)} clips{where[0]}, validating on {len(val_clips)}{where[1]}; "
              f"{cfg.members} {cfg.backbone} member(s), up to {cfg.epochs} epochs, device {trainer.device}, "
              f"{trainer.world} process(es)", flush=True)
    result = trainer.run(resume)
    if trainer.main and out is not None:
        write_outputs(result, labels, out, run_dir)
    if trainer.distributed:
        import torch.distributed as dist

        dist.barrier()
    return result
