"""The training loop of one network: EMA weights, epochs over cached features, validation."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluate import classification_metrics
from ..model import member_state
from ..networks import create_model


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

    def __init__(self, trainer, seed: int):
        cfg, dev = trainer.cfg, trainer.device
        self.t, self.cfg, self.dev = trainer, cfg, dev
        _seed_all(seed)  # identical initial weights on every rank
        self.net = create_model(cfg.backbone, len(trainer.labels), cfg.arch, cfg.pretrained).to(dev)
        _seed_all(seed + 1 + trainer.rank)  # but each rank its own augmentation draws
        self.seed = seed
        groups = cfg.network.param_groups(self.net, cfg.settings)
        self.ema = EMA(self.net, cfg.settings.ema_decay)
        self.model = self.net
        if trainer.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(self.net, device_ids=[dev.index] if dev.type == "cuda" else None)
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.settings.weight_decay)
        n = trainer.x_train.shape[1]
        self.per_rank = math.ceil(n / trainer.world)
        steps = max(1, self.per_rank // cfg.settings.batch_size) * cfg.settings.epochs
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
        bar = tqdm(range(max(1, len(order) // cfg.settings.batch_size)), unit="batch", leave=False,
                   desc=f"{cfg.backbone} {member + 1}/{cfg.members} epoch {epoch}/{cfg.settings.epochs}",
                   disable=not (cfg.progress and t.main))
        for b in bar:
            idx = order[b * cfg.settings.batch_size:(b + 1) * cfg.settings.batch_size]
            x, y = t._batch(idx)
            x, y = x.to(dev), y.to(dev)
            y1 = F.one_hot(y, len(t.labels)).float()
            y1 = y1 * (1 - cfg.settings.label_smoothing) + cfg.settings.label_smoothing / len(t.labels)
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
        if not self.cfg.settings.keep_best:  # the validation is only reported
            return self.keep_last(row["epoch"])
        if _score(vm) > self.best:
            self.best, self.best_epoch, self.bad = _score(vm), row["epoch"], 0
            self.best_state = member_state(self.ema.module)
        else:
            self.bad += 1
        return self.bad >= self.cfg.settings.patience

    def keep_last(self, epoch: int) -> bool:
        """Without validation the last epoch's EMA weights are the result."""
        self.best_state, self.best_epoch = member_state(self.ema.module), epoch
        return False
