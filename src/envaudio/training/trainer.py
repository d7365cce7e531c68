"""The Trainer: a run's features, its members one after the other, the final payload."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..datasets.cache import FeatureCache
from ..datasets.clips import Clip
from ..datasets.splits import select_folds
from ..datasets.urbansound8k import US8K_CITATION
from ..errors import DatasetError
from ..evaluate import classification_metrics
from ..model import model_payload
from ..settings import parse_wave_variants
from .checkpoints import Checkpoints
from .config import TrainConfig, TrainResult
from .distributed import dist_info, init_distributed, pick_device
from .loop import _MemberRun, _stack, window_index
from .outputs import git_commit, log_epoch, validation_text, write_outputs

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
        self.distributed = init_distributed(self.device, cfg.settings.dist_timeout_minutes)
        self.main = self.rank == 0
        self.checkpoints = Checkpoints(self.run_dir, writer=self.main)
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
        feats = self._cached(FeatureCache(self.cfg.settings.cache_dir, self.fe),
                             self.train_clips + self.val_clips, "features")
        idx = {l: i for i, l in enumerate(self.labels)}
        n, cap = len(self.train_clips), self.cfg.settings.max_windows_per_file
        self.train_pairs = window_index(feats[:n], cap)
        val_pairs = window_index(feats[n:], cap)
        self.y_train = torch.tensor([idx[self.train_clips[i].label] for i, _ in self.train_pairs])
        self.x_val = _stack(feats[n:], val_pairs) if val_pairs else None
        self.y_val = torch.tensor([idx[self.val_clips[i].label] for i, _ in val_pairs]) if val_pairs else None
        # Waveform variants of the training windows: (variants + 1, n, ...), index 0 the
        # original. Computed once (cached like the originals), drawn from per example.
        stacks = [_stack(feats[:n], self.train_pairs)]
        for v in parse_wave_variants(self.cfg.settings.wave_augment):
            stacks.append(_stack(self._cached(FeatureCache(self.cfg.settings.cache_dir, self.fe, variant=v),
                                              self.train_clips, f"features {v}"), self.train_pairs))
        self.x_train = torch.stack(stacks)

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples idx, each drawn from a waveform variant with probability WAVE_AUGMENT_P."""
        which = torch.zeros(len(idx), dtype=torch.long)
        if self.x_train.shape[0] > 1:
            use = torch.rand(len(idx)) < self.cfg.settings.wave_augment_p
            which = torch.where(use, torch.randint(1, self.x_train.shape[0], (len(idx),)), which)
        return self.x_train[which, idx], self.y_train[idx]

    def class_weights(self) -> torch.Tensor:
        counts = torch.bincount(self.y_train, minlength=len(self.labels)).float()
        if not self.cfg.settings.class_weights:
            return torch.ones(len(self.labels))
        # Square root of inverse frequency: rare classes (gun shot, car horn) count more,
        # but not so much that the model starts calling every rumble a gun shot.
        w = (counts.sum() / (len(self.labels) * counts.clamp_min(1))).sqrt()
        return w / (w * counts).sum() * counts.sum()  # mean weight over the data stays 1

    # -- main loop
    def run(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        t_start = time.time()
        self.load_features()  # first: an unreadable file stops the run before anything is written
        if self.main and len(self.train_pairs) > len(self.train_clips):
            print(f"{len(self.train_pairs)} training windows from {len(self.train_clips)} clips (long "
                  f"recordings cut into {self.fe.duration:g}-s windows, at most {cfg.settings.max_windows_per_file} "
                  "per file)", flush=True)
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints.clear_stale()
        ckpt = self.checkpoints.load() if resume else None
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
        seed = cfg.settings.seed + 1000 * member
        run = _MemberRun(self, seed)
        start_epoch = 1
        if ckpt:
            start_epoch = run.restore(ckpt["epoch_state"])
            if self.rank:  # rank 0's generator state is restored; the others draw their own
                torch.manual_seed(seed + 1 + self.rank + 100003 * start_epoch)
            if self.main:
                print(f"resumed member {member + 1} at epoch {start_epoch}")
        for epoch in range(start_epoch, cfg.settings.epochs + 1):
            te = time.time()
            row = {"member": member + 1, "epoch": epoch, **run.train_epoch(epoch, member)}
            stop = self._agree(run.validate(row) if self.x_val is not None else run.keep_last(epoch))
            row["seconds"] = time.time() - te
            history.append(row)
            if self.main:
                self._log_epoch(row)
            self.checkpoints.save({"member": member, "done_members": done, "history": history,
                                  "elapsed": time.time() - t0, "epoch_state": run.state(epoch)})
            if stop:
                if self.main:
                    print(f"early stop: no validation gain for {cfg.settings.patience} epochs "
                          f"(best epoch {run.best_epoch})")
                break
        # The member is complete: record it so a resume starts on the next one.
        result = {"state": run.best_state, "best_epoch": run.best_epoch, "seed": seed}
        self.checkpoints.save({"member": member + 1, "done_members": done + [result],
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
        log_epoch(self.run_dir, row, ["member", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                                      "val_macro_f1", "seconds"], row["member"] == 1 and row["epoch"] == 1)
        print(f"member {row['member']} epoch {row['epoch']:3d}  loss {row['train_loss']:.3f}  "
              f"train acc {row['train_acc']:.3f}{validation_text(row)}  ({row['seconds']:.1f} s)", flush=True)

    def _finish(self, done: list[dict], history: list[dict], seconds: float) -> TrainResult:
        steps_per_rank = self._steps_per_rank()  # a collective: every rank gets here
        members = [{"network": self.cfg.backbone, "arch": self.cfg.arch, "features": self.fe.to_dict(),
                    "state": d["state"]} for d in done]
        val_metrics = None
        if self.x_val is not None:
            from ..loading import from_payload

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
            "epochs_max": self.cfg.settings.epochs,
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
              f"{cfg.members} {cfg.backbone} member(s), up to {cfg.settings.epochs} epochs, device {trainer.device}, "
              f"{trainer.world} process(es)", flush=True)
    result = trainer.run(resume)
    if trainer.main and out is not None:
        write_outputs(result, labels, out, run_dir)
    if trainer.distributed:
        import torch.distributed as dist

        dist.barrier()
    return result
