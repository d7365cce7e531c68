"""The networks a model can be made of, each with its own front end.

Every network module has the same shape (as timm's registry, or torchaudio's pipelines
where each bundle carries its sample rate and preprocessing beside the network):

    NAME                          "cnn", "yamnet", "mn04"
    Frontend                      the feature settings (a frozen dataclass with
                                  sample_rate, duration, n_samples, key(), to_dict())
    features(windows, fe)         the one feature function: (B, samples) -> model input
    build(arch, n_classes)        the network (arch: a small dict saved in the model file)
    default_arch(hp)              arch from the training settings
    param_groups(net, hp)         optimizer groups (learning rate per part)
    augment(x, y, hp, fe)         training augmentation on this front end's features
    for_inference(net)            an equivalent, faster network for inference
    load_pretrained(net, path)    the published weights (YAMNet, mn04; not the CNN)
"""

from __future__ import annotations

from types import ModuleType

import torch

from ..frontends import frontend_from_dict  # noqa: F401 (torch-free, in frontends.py; the module API)
from . import cnn, mn04, yamnet

NETWORKS: dict[str, ModuleType] = {cnn.NAME: cnn, yamnet.NAME: yamnet, mn04.NAME: mn04}
# Which network a front end belongs to. FeatureConfig predates `kind`: model files and
# caches without it are the CNN's log-mel.
_KINDS = {"logmel": cnn, yamnet.NAME: yamnet, mn04.NAME: mn04}


def get_network(name: str) -> ModuleType:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r} (choose from {', '.join(NETWORKS)})") from None


def network_of(fe) -> ModuleType:
    return _KINDS[getattr(fe, "kind", "logmel")]


def frontend_features(fe, windows):
    """(B, samples) windows at fe.sample_rate -> that front end's model input."""
    return network_of(fe).features(windows, fe)


def create_model(name: str, n_classes: int, arch: dict | None = None, pretrained: str | None = None):
    """A network by name; `pretrained` loads weights where the network has any (YAMNet, mn04)."""
    module = get_network(name)
    net = module.build(arch or {}, n_classes)
    if pretrained:
        if not hasattr(module, "load_pretrained"):
            raise ValueError(f"the {name} network has no pretrained weights to load")
        module.load_pretrained(net, pretrained)
    return net


def build_net(d: dict, n_classes: int, inference: bool = True):
    """A model file's member {"network", "arch", "state"} -> its network in eval mode, the
    stored weights in float32 (a float16 file's too); `inference`: the module's faster
    equivalent form (BatchNorm folded, channels-last)."""
    module = get_network(d["network"])
    net = module.build(d["arch"], n_classes)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in d["state"].items()})
    net.eval()
    return module.for_inference(net) if inference else net


def start_torch_threads() -> None:
    """Start torch's OpenMP thread pool from the calling thread, which must live as long as
    the process (the main thread). Started first from a short-lived worker thread, it made
    later calls from other threads ~40x slower in the server (~500 ms instead of ~10 ms)."""
    with torch.inference_mode():
        torch.nn.functional.conv2d(torch.zeros(1, 4, 16, 16), torch.zeros(4, 4, 3, 3), padding=1)
