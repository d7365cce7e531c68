"""`envaudio zero-shot`: YAMNet's AudioSet classes mapped to yours, no training."""

from __future__ import annotations

from pathlib import Path

from ..settings import get_settings
from .common import check_output


def add_parser(sub) -> None:
    p = sub.add_parser("zero-shot", help="a model that needs no training: YAMNet's AudioSet classes "
                       "mapped to UrbanSound8K's (a member to combine with trained ones)")
    p.add_argument("--pretrained", required=True, help="YAMNet's weights (yamnet.npz)")
    p.add_argument("--class-map", default=None, help="YAMNet's yamnet_class_map.csv (default: next to "
                   "--pretrained)")
    p.add_argument("--map", default=None, metavar="JSON", help='your classes instead of UrbanSound8K\'s: '
                   '{"label": ["AudioSet class", ...], ...} with YAMNet\'s display names')
    p.add_argument("--temperature", type=float, default=None, help="divides the mapped logits "
                   f"(default: {_temperature()})")
    p.add_argument("--out", required=True, help="model file to write")


def _temperature() -> float:
    from ..zeroshot import TEMPERATURE

    return TEMPERATURE


def run(args) -> int:
    from ..model import save_model_files
    from ..zeroshot import TEMPERATURE, read_map, zero_shot_payload

    pretrained = Path(args.pretrained)
    if not pretrained.is_file():
        raise FileNotFoundError(f"--pretrained {pretrained}: no such file")
    mapping = read_map(args.map) if args.map else None
    check_output(args.out, "--out", create_parent=True)
    temperature = TEMPERATURE if args.temperature is None else args.temperature
    payload = zero_shot_payload(pretrained, args.class_map or pretrained.with_name("yamnet_class_map.csv"),
                                get_settings(), mapping, temperature)
    save_model_files(args.out, payload)
    print(f"saved {args.out} (zero-shot YAMNet, {len(payload['labels'])} classes, temperature {temperature:g})")
    return 0
