"""Distillation: one small network (the student) learns to answer as a model of several
networks (the teacher) does, so that the default model costs one network per window.

The student hears augmented 4-s windows (distill_data.py) and learns the teacher's
calibrated probabilities for exactly those windows (KL divergence at KD_TEMPERATURE) plus,
with a small weight, the true labels of the clips in the window (cross-entropy): the
teacher's probabilities carry what it knows of similar classes ("this drilling sounds a
little like a jackhammer"), the labels keep the student from copying the teacher's
mistakes on the clips it learns from. Clips without labels (`--unlabeled`) teach through
the teacher alone.

The student starts from AudioSet weights (mn04, YAMNet) and, for mn04 where our labels are
AudioSet classes, with a head that already maps AudioSet's classes to ours (the zero-shot
head of zeroshot.py): it starts at the zero-shot model's accuracy instead of chance, which
matters on a budget of tens of epochs. The weights scored and saved are an exponential
moving average (EMA) of the trained ones.

Runs like `train`: a progress bar per epoch, train_log.csv and training_curve.png in the
run folder, a checkpoint after every epoch (`--resume`), torchrun/DDP (each process
distils its share of every epoch, with its own teacher).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.clips import Clip
from ..errors import DatasetError
from ..evaluate import classification_metrics
from ..model import member_state, model_payload
from ..networks import create_model, get_network
from ..networks.cnn import spec_augment
from ..recipes import DISTILL
from ..settings import Settings, available_cpus, get_settings
from .checkpoints import Checkpoints
from .distill_data import Augment, Batches, WaveBank, resample_batch
from .distributed import dist_info, init_distributed, pick_device
from .loop import EMA, predict_tensor
from .outputs import git_commit, log_epoch, validation_text

# The axes of each network's input (batch first): (frequency, time), for SpecAugment.
INPUT_AXES = {"mn04": (1, 2), "cnn": (1, 2), "yamnet": (2, 1)}


@dataclass
class DistillConfig:
    """One distillation run. The defaults are the recipe (recipes.DISTILL); the command line
    overrides them."""

    teacher: str = ""  # the teacher's model file
    backbone: str = DISTILL["backbone"]
    pretrained: str | None = None  # the student's AudioSet weights (mn04 folder or .pt, YAMNet npz)
    epochs: int = DISTILL["epochs"]
    batch_size: int = DISTILL["batch_size"]
    learning_rate: float = DISTILL["learning_rate"]  # the new head; the pretrained rest at backbone_lr_scale x
    backbone_lr_scale: float = DISTILL["backbone_lr_scale"]
    weight_decay: float = DISTILL["weight_decay"]
    warmup: float = DISTILL["warmup"]  # share of the one-cycle schedule spent warming up
    ema_decay: float = DISTILL["ema_decay"]
    kd_temperature: float = DISTILL["kd_temperature"]
    ce_weight: float = DISTILL["ce_weight"]  # the true labels' cross-entropy, beside the teacher's KL
    head_init: str = DISTILL["head_init"]  # "zero-shot" (AudioSet classes mapped, where they can be) or "new"
    freq_masks: int = 1
    freq_mask_share: float = 24 / 128  # the widest band mask, as a share of the bands
    time_masks: int = 2
    time_mask_seconds: float = 0.4
    augment: Augment = field(default_factory=Augment)
    seed: int = DISTILL["seed"]
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None  # the student's torch threads (default: the cores less the teacher's)
    teacher_threads: int | None = None  # ONNX Runtime threads of the teacher (default: a quarter of the cores)
    progress: bool = True

    def recipe(self) -> dict:
        """What the model card records."""
        d = asdict(self)
        for k in ("teacher", "device", "workers", "threads", "teacher_threads", "progress"):
            d.pop(k)
        d["pretrained"] = Path(self.pretrained).name if self.pretrained else None
        d["augment"] = self.augment.to_dict()
        return d


def thread_split(cores: int, teacher: int | None, student: int | None) -> tuple[int, int]:
    """(teacher threads, student threads): the teacher's batches are made while the student
    trains, so the cores are shared between them rather than both taking all."""
    t = teacher or max(1, cores // 4)
    s = student or max(1, cores - t)
    return t, s


class Teacher:
    """The teacher's calibrated probabilities for windows at the bank's rate."""

    def __init__(self, model, rate: int, threads: int):
        from ..engines import OrtEngine, TorchEngine, onnxruntime_installed

        self.model, self.rate = model, rate
        self.engine = (OrtEngine(model, threads=threads, cache_dir=model.cache_dir)
                       if onnxruntime_installed() else TorchEngine(model))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        waves = {r: resample_batch(x, self.rate, r) for r in self.model.sample_rates}
        return self.model.predict_windows(self.model.featurize(waves), engine=self.engine)


def zero_shot_head(net, backbone: str, pretrained: str, labels: list[str]) -> bool:
    """Set an mn04 student's last layer to AudioSet's classes mapped to `labels` by
    zeroshot.URBANSOUND8K (zeroshot.mn04_zero_shot_head). False, leaving the head new, for
    other networks or labels the map does not cover."""
    from .. import zeroshot
    from ..networks import mn04

    if backbone != "mn04" or not pretrained or not set(labels) <= set(zeroshot.URBANSOUND8K):
        return False
    folder = mn04.weights_path(pretrained).parent
    names, M = zeroshot.mn04_map(folder, {l: zeroshot.URBANSOUND8K[l] for l in labels})
    zeroshot.mn04_zero_shot_head(net, pretrained, M[[names.index(l) for l in labels]])
    return True


def distill_loss(logits: torch.Tensor, teacher: torch.Tensor, truth: torch.Tensor, t: float,
                 ce_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, KL part, CE part). KL(teacher || student) at temperature t (scaled by t^2 so its
    gradients keep their size), plus ce_weight x the cross-entropy to the true-label targets
    of the examples that have any."""
    log_s = F.log_softmax(logits / t, dim=-1)
    p_t = teacher if t == 1.0 else F.softmax(torch.log(teacher.clamp_min(1e-8)) / t, dim=-1)
    kl = (p_t * (torch.log(p_t.clamp_min(1e-8)) - log_s)).sum(-1).mean() * t * t
    mass = truth.sum(-1)
    has = mass > 0
    ce = (-(truth[has] / mass[has, None]) * F.log_softmax(logits[has], dim=-1)).sum(-1).mean() \
        if has.any() else logits.new_zeros(())
    return kl + ce_weight * ce, kl, ce


class Distiller:
    """One student distilled from one teacher on a set of clips (labelled or not)."""

    def __init__(self, cfg: DistillConfig, teacher_model, clips: list[Clip], unlabeled: list[str],
                 run_dir: str | Path, val_clips: list[Clip] | None = None, settings: Settings | None = None,
                 dataset: dict | None = None):
        self.cfg, self.s = cfg, settings or get_settings()
        self.teacher_model, self.labels = teacher_model, list(teacher_model.labels)
        unknown = sorted({c.label for c in clips} - set(self.labels))
        if unknown:
            raise DatasetError(f"the teacher does not know the classes {unknown}: a student learns "
                               f"the teacher's classes ({', '.join(self.labels)})")
        self.clips, self.unlabeled, self.val_clips = clips, unlabeled, val_clips or []
        self.dataset = dataset or {}
        self.module = get_network(cfg.backbone)
        self.fe = self.module.frontend(self.s)
        if abs(self.fe.duration - teacher_model.duration) > 1e-6:
            raise DatasetError(f"the teacher analyses {teacher_model.duration:g}-s windows, the student "
                               f"{self.fe.duration:g}-s ones")
        self.rate = max([self.fe.sample_rate, *teacher_model.sample_rates])
        self.run_dir = Path(run_dir)
        self.rank, _, self.world = dist_info()
        self.main = self.rank == 0
        self.device = pick_device(cfg.device)
        self.distributed = init_distributed(self.device, self.s.dist_timeout_minutes)
        self.checkpoints = Checkpoints(self.run_dir, writer=self.main)

    # -- set-up
    def _data(self) -> None:
        paths = [c.file_path for c in self.clips] + list(self.unlabeled)
        self.bank = WaveBank(paths, self.rate, self.s.cache_dir, self.cfg.workers, self.cfg.progress and self.main,
                             self.s.audio_loader, self.s.ffmpeg_timeout_seconds)
        idx = {l: i for i, l in enumerate(self.labels)}
        self.targets = np.zeros((len(paths), len(self.labels)), np.float32)
        for i, c in enumerate(self.clips):
            self.targets[i, idx[c.label]] = 1.0
        self.x_val = self.y_val = None
        if self.val_clips:
            from ..datasets.cache import FeatureCache
            from .loop import _stack, window_index

            feats = FeatureCache(self.s.cache_dir, self.fe).get_many(
                [c.file_path for c in self.val_clips], self.cfg.workers, self.cfg.progress and self.main,
                desc="validation features")
            pairs = window_index(feats, self.s.max_windows_per_file)
            self.x_val = _stack(feats, pairs)
            self.y_val = torch.tensor([idx[self.val_clips[i].label] for i, _ in pairs])

    def _student(self):
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        hp = self.s.replace(learning_rate=cfg.learning_rate, backbone_lr_scale=cfg.backbone_lr_scale,
                            freeze_layers=0, dropout=self.s.dropout)
        self.arch = self.module.default_arch(hp)
        net = create_model(cfg.backbone, len(self.labels), self.arch, cfg.pretrained)
        self.head_init = "zero-shot" if cfg.head_init == "zero-shot" and zero_shot_head(
            net, cfg.backbone, cfg.pretrained, self.labels) else "new"
        net = net.to(self.device)
        if self.device.type == "cpu":
            net = net.to(memory_format=torch.channels_last)
        groups = self.module.param_groups(net, hp)
        self.net, self.model = net, net
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.ema = EMA(net, cfg.ema_decay)
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = max(1, math.ceil(len(self.bank) / self.world) // cfg.batch_size)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=[g["lr"] for g in groups], total_steps=self.steps_per_epoch * cfg.epochs,
            pct_start=cfg.warmup, div_factor=10, final_div_factor=100)

    def _fast_forward(self, steps: int) -> None:
        """The schedule as it stands after `steps` steps: made for this run's --epochs (which
        a resumed run may have raised), rather than read back from the checkpoint."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()"
            for _ in range(min(steps, self.sched.total_steps - 1)):
                self.sched.step()

    # -- one epoch
    def _order(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.bank))
        if self.distributed:  # each rank its own slice, as DistributedSampler does
            per = math.ceil(len(order) / self.world)
            order = np.concatenate([order, order[:per * self.world - len(order)]])[self.rank::self.world]
        return order

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        """Student windows -> the student's input, SpecAugmented."""
        feats = torch.from_numpy(np.asarray(self.module.features(resample_batch(x, self.rate, self.fe.sample_rate),
                                                                 self.fe)))
        fd, td = INPUT_AXES.get(self.cfg.backbone, (1, 2))
        frames_per_s = feats.shape[td] / self.fe.duration
        masks = type("Masks", (), {"num_freq_masks": self.cfg.freq_masks,
                                   "freq_mask_param": int(round(self.cfg.freq_mask_share * feats.shape[fd])),
                                   "num_time_masks": self.cfg.time_masks,
                                   "time_mask_param": int(round(self.cfg.time_mask_seconds * frames_per_s))})
        return spec_augment(feats, masks, freq_dim=fd, time_dim=td)

    def _epoch(self, epoch: int, batches: Batches) -> dict:
        from tqdm import tqdm

        cfg = self.cfg
        self.model.train()
        sums = {"loss": 0.0, "kl": 0.0, "ce": 0.0, "agree": 0, "right": 0, "labelled": 0, "n": 0}
        bar = tqdm(batches.epoch(), total=self.steps_per_epoch, unit="batch", leave=False,
                   disable=not (cfg.progress and self.main), desc=f"distil {cfg.backbone} epoch {epoch}/{cfg.epochs}")
        waited, t_ready = 0.0, time.perf_counter()
        try:
            for x, y, p_t in bar:
                waited += time.perf_counter() - t_ready  # the student waiting for the teacher
                xb = self._inputs(x).to(self.device)
                p_t, y = torch.from_numpy(p_t).to(self.device), torch.from_numpy(y).to(self.device)
                logits = self.model(xb)
                loss, kl, ce = distill_loss(logits, p_t, y, cfg.kd_temperature, cfg.ce_weight)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                self.sched.step()
                self.ema.update(self.net)
                b = len(x)
                pred = logits.argmax(1)
                labelled = y.sum(1) > 0
                sums["loss"] += loss.item() * b
                sums["kl"] += kl.item() * b
                sums["ce"] += ce.item() * b
                sums["agree"] += int((pred == p_t.argmax(1)).sum())
                sums["right"] += int((pred == y.argmax(1))[labelled].sum())
                sums["labelled"] += int(labelled.sum())
                sums["n"] += b
                bar.set_postfix(loss=f"{sums['loss'] / sums['n']:.3f}")
                t_ready = time.perf_counter()
        finally:
            bar.close()
        n = max(sums["n"], 1)
        return {"lr": self.sched.get_last_lr()[0], "train_loss": sums["loss"] / n, "kl": sums["kl"] / n,
                "ce": sums["ce"] / n, "teacher_agreement": sums["agree"] / n,
                "train_acc": sums["right"] / max(sums["labelled"], 1), "teacher_wait_s": waited}

    def _validate(self, row: dict) -> None:
        if self.x_val is None:
            return
        probs = predict_tensor(self.ema.module, self.x_val, self.device)
        vm = classification_metrics(self.y_val.numpy(), probs.argmax(1).numpy(), self.labels)
        row.update(val_loss=float(F.nll_loss(probs.clamp_min(1e-8).log(), self.y_val)),
                   val_acc=vm["accuracy"], val_macro_f1=vm["macro_f1"])

    # -- the run
    def run(self, resume: bool = False) -> dict:
        from .outputs import plot_history

        t_start = time.time()
        cfg = self.cfg
        self._data()
        cores = available_cpus() if self.world == 1 else max(1, available_cpus() // self.world)
        t_threads, s_threads = thread_split(cores, cfg.teacher_threads, cfg.threads)
        if self.device.type == "cpu":
            torch.set_num_threads(s_threads)
        self.teacher = Teacher(self.teacher_model, self.rate, t_threads)
        self.fe_samples_at_rate = int(round(self.fe.duration * self.rate))
        self._student()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints.clear_stale()
        ckpt = self.checkpoints.load() if resume else None
        history, start, elapsed = [], 1, 0.0
        if ckpt:
            self.net.load_state_dict(ckpt["net"])
            self.ema.load_state_dict(ckpt["ema"])
            self.opt.load_state_dict(ckpt["opt"])
            history, start, elapsed = ckpt["history"], ckpt["epoch"] + 1, ckpt["elapsed"]
            self._fast_forward(ckpt["epoch"] * self.steps_per_epoch)
            torch.set_rng_state(ckpt["rng"])
            if self.main:
                print(f"resumed at epoch {start}", flush=True)
        elif resume and self.main:
            print(f"no checkpoint in {self.run_dir}: starting from scratch", flush=True)
        if self.main:
            print(f"student: {cfg.backbone}, head {self.head_init}; teacher: {Path(cfg.teacher).name} "
                  f"({len(self.teacher_model.members)} networks, {t_threads} thread(s)); student "
                  f"{s_threads} thread(s); {self.steps_per_epoch} batches of {cfg.batch_size} per epoch",
                  flush=True)
        plan = [(e, self._order(e), [cfg.seed, e, self.rank]) for e in range(start, cfg.epochs + 1)]
        batches = Batches(self.bank, self.targets, plan, cfg.batch_size, self.fe_samples_at_rate, cfg.augment,
                          self.teacher)
        try:
            history = self._epochs(start, batches, history, elapsed, t_start)
        finally:
            batches.close()
        seconds = elapsed + time.time() - t_start
        if self.main:
            plot_history(history, self.run_dir / "training_curve.png")
        return self._payload(history, seconds)

    def _epochs(self, start: int, batches: Batches, history: list[dict], elapsed: float, t_start: float) -> list[dict]:
        for epoch in range(start, self.cfg.epochs + 1):
            te = time.time()
            row = {"member": 1, "epoch": epoch, **self._epoch(epoch, batches)}
            self._validate(row)
            row["seconds"] = time.time() - te
            history.append(row)
            if self.main:
                self._log(row)
            self.checkpoints.save({"net": self.net.state_dict(), "ema": self.ema.state_dict(),
                                   "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                                   "epoch": epoch, "history": history, "rng": torch.get_rng_state(),
                                   "elapsed": elapsed + time.time() - t_start})
        return history

    def _log(self, row: dict) -> None:
        log_epoch(self.run_dir, row, ["epoch", "lr", "train_loss", "kl", "ce", "teacher_agreement", "train_acc",
                                      "val_loss", "val_acc", "val_macro_f1", "seconds", "teacher_wait_s"],
                  row["epoch"] == 1)
        print(f"epoch {row['epoch']:3d}  loss {row['train_loss']:.3f} (KL {row['kl']:.3f}, CE {row['ce']:.3f})  "
              f"agrees with teacher {row['teacher_agreement']:.3f}  train acc {row['train_acc']:.3f}"
              f"{validation_text(row)}  ({row['seconds']:.1f} s, {row['teacher_wait_s']:.1f} s waiting for the "
              "teacher)", flush=True)

    def _payload(self, history: list[dict], seconds: float) -> dict:
        from ..datasets.urbansound8k import US8K_CITATION

        tcard = self.teacher_model.card or {}
        folds = sorted({c.fold for c in self.clips})
        # The student learned from the teacher, so from what the teacher learned from too:
        # a fold either trained on is not held out for the student.
        seen = sorted(set(folds) | set(tcard.get("train_folds") or []))
        card = {
            "name": f"envaudio {self.cfg.backbone} (distilled)",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "dataset": tcard.get("dataset", "UrbanSound8K"),
            "dataset_citation": tcard.get("dataset_citation", US8K_CITATION),
            "train_folds": seen or None,
            "val_folds": sorted({c.fold for c in self.val_clips}) or None,
            **self.dataset,
            "n_train_clips": len(self.clips),
            "n_unlabeled_files": len(self.unlabeled),
            "members": 1,
            "epochs_max": self.cfg.epochs,
            "training_seconds": round(seconds, 1),
            "world_size": self.world,
            "device": str(self.device),
            "distillation": {"teacher": Path(self.cfg.teacher).name, "teacher_name": tcard.get("name"),
                             "teacher_train_folds": tcard.get("train_folds"), "distill_folds": folds,
                             "head_init": self.head_init, "recipe": self.cfg.recipe()},
            "train_config": {"backbone": self.cfg.backbone, **self.cfg.recipe()},
            "features": self.fe.to_dict(),
            "labels": self.labels,
            "final_epoch": history[-1] if history else None,
        }
        member = {"network": self.cfg.backbone, "arch": self.arch, "features": self.fe.to_dict(),
                  "state": member_state(self.ema.module)}
        return {"payload": model_payload([member], self.labels, card), "history": history, "seconds": seconds}
