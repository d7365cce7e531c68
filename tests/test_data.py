"""Tests on real recordings: the UrbanSound8K subset in ../shared (skipped when absent) and
the bundled example clips (real UrbanSound8K excerpts shipped with the package)."""

import json

import numpy as np
import pytest

from envaudio.datasets.urbansound8k import prepare_dataset
from envaudio.datasets.splits import select_folds
from envaudio.evaluate import evaluate_clips
from envaudio.loading import load_model
from envaudio.modelfile import read_meta
from envaudio.predict import load_classifier
from conftest import EXAMPLES, run_cli

LABELS = ["air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
          "engine_idling", "gun_shot", "jackhammer", "siren", "street_music"]


@pytest.mark.parametrize("name, networks", [("fast", ["mn04"]), ("accurate", None)])
def test_bundled_models_load_with_their_cards(name, networks):
    m = load_model(name)
    assert m.labels == LABELS and m.duration == 4.0
    assert m.sample_rates == sorted({fe.sample_rate for fe in m.frontends}, reverse=True)
    if networks:
        assert [mb.network for mb in m.members] == networks
    card = read_meta(m.path)["card"]  # the card travels inside the model file
    assert card["labels"] == LABELS and card["members"] == len(m.members)
    assert m.calibration["temperature"] > 0 and 0 < m.calibration["unknown_threshold"] < 1


def test_bundled_model_recognises_the_example_clips():
    """Real recordings through the real pipeline (decode FLAC, features, ensemble)."""
    clf = load_classifier()
    manifest = json.loads((EXAMPLES / "examples.json").read_text())["examples"]
    top1 = 0
    for ex in manifest:
        pred = clf.classify_file(EXAMPLES / ex["file"])
        assert ex["label"] in [l for l, _ in pred.top_k(3)], (ex["file"], pred.top_k(3))
        top1 += pred.average_label == ex["label"]
    assert top1 >= len(manifest) - 1


def test_prepare_on_the_subset(subset):
    ds = prepare_dataset(subset)
    assert ds.labels == LABELS
    assert ds.folds == [1, 2, 3] and not ds.missing
    assert len(ds.clips) == 2148
    assert all(c.file_path.endswith(".flac") for c in ds.clips)


def test_evaluate_bundled_model_on_real_clips(subset, tmp_path):
    """A slice of real clips through `evaluate` (the model has seen these folds: this
    checks the pipeline, the held-out figures are in the README)."""
    ds = prepare_dataset(subset)
    rng = np.random.default_rng(0)
    clips = [ds.clips[i] for i in rng.choice(len(ds.clips), 120, replace=False)]
    ev = evaluate_clips(load_model(), clips, progress=False)
    assert ev.metrics["n"] == 120 and not ev.errors
    assert ev.metrics["accuracy"] > 0.8


def test_evaluate_cli_on_subset_fold(subset, tmp_path):
    out = tmp_path / "m.json"
    r = run_cli("evaluate", "--data-root", subset, "--folds", "3", "--json", out, "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    assert m["n"] == len(select_folds(prepare_dataset(subset).clips, [3]))
    assert m["labels"] == LABELS and m["clips_per_second"] > 0
