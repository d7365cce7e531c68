"""`envaudio zero-shot`: an AudioSet network's classes mapped to yours, no training."""

from __future__ import annotations

from pathlib import Path

from ..recipes import WEIGHTS
from ..settings import get_settings
from .common import check_output


def add_parser(sub) -> None:
    from ..zeroshot import BACKBONES, CLASS_MAPS, TEMPERATURES

    p = sub.add_parser("zero-shot", help="a model that needs no training: an AudioSet network's classes "
                       "mapped to UrbanSound8K's (a member to combine with trained ones)")
    p.add_argument("--backbone", choices=BACKBONES, default="yamnet",
                   help="whose AudioSet classifier: YAMNet's (521 classes) or EfficientAT mn04's (527) "
                        "(default: %(default)s)")
    p.add_argument("--pretrained", required=True,
                   help=f"the network's weights: yamnet: {WEIGHTS['yamnet']}; mn04: {WEIGHTS['mn04']}")
    p.add_argument("--class-map", default=None, help=f"its class list (default: beside --pretrained): "
                   f"yamnet: {CLASS_MAPS['yamnet']}; mn04: {CLASS_MAPS['mn04']}")
    p.add_argument("--map", default=None, metavar="JSON", help='your classes instead of UrbanSound8K\'s: '
                   '{"label": ["AudioSet class", ...], ...} with the network\'s display names')
    p.add_argument("--temperature", type=float, default=None, help="divides the mapped logits "
                   f"(default: {', '.join(f'{k} {v:g}' for k, v in TEMPERATURES.items())})")
    p.add_argument("--out", required=True, help="training file to write (NAME.pt; its model file NAME.envaudio "
                   "goes beside it)")


def run(args) -> int:
    from ..model import save_model_files
    from ..zeroshot import CLASS_MAPS, NETWORK_NAMES, TEMPERATURES, read_map, zero_shot_payload

    backbone = args.backbone
    pretrained = Path(args.pretrained)
    if backbone == "yamnet" and not pretrained.is_file():
        hint = " (mn04's weights? add --backbone mn04)" if pretrained.is_dir() or pretrained.suffix == ".pt" else ""
        raise FileNotFoundError(f"--pretrained {pretrained}: no such file{hint}")
    if backbone == "mn04" and not pretrained.exists():
        raise FileNotFoundError(f"--pretrained {pretrained}: no such file or folder")
    mapping = read_map(args.map) if args.map else None
    check_output(args.out, "--out", create_parent=True)
    temperature = TEMPERATURES[backbone] if args.temperature is None else args.temperature
    folder = pretrained if pretrained.is_dir() else pretrained.parent
    payload = zero_shot_payload(pretrained, args.class_map or folder / CLASS_MAPS[backbone], get_settings(),
                                mapping, temperature, backbone=backbone)
    model_file = save_model_files(args.out, payload)
    print(f"saved {args.out} and the model file {model_file} (zero-shot {NETWORK_NAMES[backbone]}, "
          f"{len(payload['labels'])} classes, temperature {temperature:g})")
    return 0
