"""Training: fold protocol, augmentation, checkpoints, ensembles, DDP.

Features come from the cache (one log-mel per clip, computed once); everything that
changes per epoch (time shift, time/frequency stretch, mixup, SpecAugment) is done on
the batch tensors, which costs little next to the network itself. Run under
`torchrun --nproc_per_node N -m envaudio train ...` it trains with
DistributedDataParallel; only rank 0 writes files.

    setup.py          the recipe, the settings, the data and its folds
    config.py         TrainConfig (settings + how to run), TrainResult
    trainer.py        Trainer: features, members, the final payload; train()
    loop.py           one network's epochs: optimizer, schedule, EMA, validation
    checkpoints.py    the resumable checkpoint
    distributed.py    torchrun: ranks, the process group, the device
    outputs.py        the model files, the log and the training curve
    crossval.py       cross-validation
"""

from .config import TrainConfig, TrainResult
from .trainer import Trainer, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "train"]
