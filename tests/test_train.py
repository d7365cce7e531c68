"""Training internals that the end-to-end CLI runs cannot see."""

import torch

from envaudio.datasets.layouts import load_clips
from envaudio.settings import Settings
from envaudio.training import TrainConfig, Trainer
from conftest import write_dataset


def test_training_draws_examples_from_the_waveform_variants(tmp_path):
    root = write_dataset(tmp_path / "d", per_class=1, folds=(1,), seconds=1.0)
    clips, labels = load_clips(str(root))

    def trainer(p: float) -> Trainer:
        s = Settings(cache_dir=str(tmp_path / "cache"), wave_augment="ps:3", wave_augment_p=p)
        t = Trainer(TrainConfig(settings=s, progress=False), labels, clips, [],
                    tmp_path / "run", {})
        t.load_features()
        return t

    t = trainer(1.0)
    assert t.x_train.shape[:2] == (2, len(clips))  # the originals and one variant
    assert not torch.equal(t.x_train[0], t.x_train[1])
    idx = torch.arange(len(clips))
    x, y = t._batch(idx)
    assert torch.equal(x, t.x_train[1]) and torch.equal(y, t.y_train)
    x, _ = trainer(0.0)._batch(idx)  # the variant is cached now; p=0 never draws it
    assert torch.equal(x, t.x_train[0])
