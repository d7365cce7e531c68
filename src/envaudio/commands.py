"""What each `envaudio` sub-command does (argument parsing lives in cli.py)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from .audio import AudioError
from .data import DatasetError, load_clips, parse_folds, prepare_dataset, select_folds, write_table
from .settings import get_settings


def cmd_prepare(args) -> int:
    ds = prepare_dataset(args.data_root)
    write_table(ds.clips, args.out)
    counts = {f: sum(c.fold == f for c in ds.clips) for f in ds.folds}
    print(f"{len(ds.clips)} clips in folds {', '.join(f'{f} ({n})' for f, n in counts.items())}")
    print(f"{len(ds.labels)} classes: {', '.join(ds.labels)}")
    if ds.missing:
        print(f"warning: {len(ds.missing)} clip(s) listed in the metadata have no audio file, "
              f"e.g. {', '.join(ds.missing[:3])}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


# `train` options -> settings names (None: not given on the command line)
_TRAIN_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate",
                "patience": "patience", "seed": "seed", "width": "model_width", "mixup": "mixup_alpha",
                "freeze_layers": "freeze_layers", "val_split": "val_fraction", "test_split": "test_fraction"}


def choose_recipe(asked: str, backbone: str, clips_per_class: float, small_below: int) -> str:
    """"full" or "small" (the network's SMALL_RECIPE). auto: small for small datasets."""
    if asked == "small" and backbone != "yamnet":
        raise DatasetError("--recipe small is for fine-tuning YAMNet (give --pretrained)")
    if asked == "auto":
        return "small" if backbone == "yamnet" and clips_per_class < small_below else "full"
    return asked


def _train_config(args, clips_per_class: float = float("inf")):
    """Settings for this run: the network's recipe (networks.<name>.RECIPE, or SMALL_RECIPE
    for small datasets) over the defaults, then the environment (ENVAUDIO_*), then the
    command line."""
    from .networks import get_network
    from .train import TrainConfig

    s = get_settings()
    pretrained = args.pretrained or s.pretrained or None
    backbone = args.backbone or ("yamnet" if pretrained else "cnn")
    if backbone == "yamnet" and not pretrained:
        raise DatasetError("--backbone yamnet needs --pretrained PATH/yamnet.npz (YAMNet's AudioSet "
                           "weights; nothing is downloaded)")
    if pretrained and not Path(pretrained).is_file():
        raise DatasetError(f"pretrained weights not found: {pretrained}")
    recipe = choose_recipe(getattr(args, "recipe", "full"), backbone, clips_per_class,
                           s.small_data_clips_per_class)
    network = get_network(backbone)
    from_env = s.names_in_env()
    s = s.replace(**{k: v for k, v in (network.SMALL_RECIPE if recipe == "small" else network.RECIPE).items()
                     if k not in from_env})
    s = s.replace(**{name: getattr(args, flag) for flag, name in _TRAIN_FLAGS.items()
                     if getattr(args, flag, None) is not None},
                  spec_augment=s.spec_augment and not args.no_spec_augment,
                  class_weights=s.class_weights and not args.no_class_weights)
    s.validate()
    layers = getattr(network, "N_LAYERS", 0)
    if layers and not 0 <= s.freeze_layers <= layers:
        raise DatasetError(f"--freeze-layers must be between 0 and {layers} ({backbone} has {layers} layers)")
    return TrainConfig(settings=s, members=args.members, device=args.device, workers=args.workers,
                       progress=not args.quiet, backbone=backbone,
                       pretrained=pretrained if backbone == "yamnet" else None, recipe=recipe)


def cmd_train(args) -> int:
    try:
        return _train(args)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_training_data(args, log: bool = True):
    """(the dataset, its warnings): the layout detected and said; errors raise."""
    from .layouts import check_classes, load_dataset

    ds = load_dataset(args.data_root, args.table)
    if log:
        print(f"data: {ds.describe()}")
    min_clips = 1 if ds.has_folds else 2  # without folds a split needs two (cv_folds checks K)
    return ds, ds.warnings + check_classes(ds, min_clips, get_settings().min_clips_per_class)


def plan_folds(ds, args, cfg) -> tuple[list, list[int] | None, list[int], list[int], dict]:
    """(clips with folds, train folds, validation folds, test folds, the card's dataset
    fields). The data's own folds when it has them (UrbanSound8K: 1-8 train, 9 validates;
    another table: its last fold validates); else a stratified split with the seed."""
    from .layouts import TEST_FOLD, TRAIN_FOLD, VAL_FOLD, cv_folds, split_folds

    card = ds.card()
    if ds.has_folds:
        if args.cv and args.cv > 0:
            raise DatasetError(f"{ds.source} has its own folds: use --cv without a number to "
                               "cross-validate over them")
        if args.val_split is not None or args.test_split is not None:
            raise DatasetError(f"{ds.source} has its own folds: choose them with --val-folds/--test-folds "
                               "(--val-split/--test-split are for data without folds)")
        folds = sorted({c.fold for c in ds.clips})
        default_train, default_val = (("1-8", "9") if ds.layout == "urbansound8k"
                                      else (",".join(map(str, folds[:-1])), str(folds[-1])))
        val_text = args.val_folds or default_val
        val = [] if str(val_text).lower() == "none" else parse_folds(val_text)
        train = [f for f in parse_folds(args.train_folds or default_train) if f not in val]
        test = parse_folds(args.test_folds) if args.test_folds else []
        return ds.clips, train, val, test, card
    if args.train_folds or args.val_folds or args.test_folds:
        raise DatasetError(f"{ds.source} has no folds: use --val-split/--test-split or --cv K instead "
                           "of --train-folds/--val-folds/--test-folds")
    card.update(train_folds=None, val_folds=None)
    if args.cv is not None:
        if args.cv <= 0:
            raise DatasetError(f"{ds.source} has no folds: say how many to make, e.g. --cv 5")
        card["split"] = {"cv": args.cv, "seed": cfg.seed}
        return cv_folds(ds.clips, args.cv, cfg.seed), None, [], [], card
    test_fraction = cfg.test_fraction if args.test_split is not None else 0.0
    card["split"] = {"seed": cfg.seed, "val_fraction": cfg.val_fraction, "test_fraction": test_fraction}
    clips = split_folds(ds.clips, cfg.val_fraction, test_fraction, cfg.seed)
    return (clips, [TRAIN_FOLD], [VAL_FOLD] if cfg.val_fraction > 0 else [],
            [TEST_FOLD] if test_fraction > 0 else [], card)


def _train(args) -> int:
    from .train import dist_info, train

    _train_config(args)  # the options are checked before the data is read
    ds, warnings = load_training_data(args, log=dist_info()[0] == 0)
    cfg = _train_config(args, len(ds.clips) / len(ds.labels))
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.members < 1:
        raise DatasetError("--epochs, --batch-size and --members must be at least 1")
    if dist_info()[0] == 0 and cfg.backbone == "yamnet":
        tuned = f"YAMNet layers 1-{cfg.freeze_layers} frozen" if cfg.freeze_layers else "all YAMNet layers tuned"
        kept = "best epoch kept" if cfg.keep_best else "last epoch kept"
        print(f"recipe: {cfg.recipe} ({tuned}, {cfg.epochs} epochs, batch {cfg.batch_size}, {kept})")
    clips, train_folds, val, test, card = plan_folds(ds, args, cfg)
    for w in warnings if dist_info()[0] == 0 else []:  # once every check has passed
        _warn(w)
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out).parent / (Path(args.out).stem + "_run")
    if args.cv is not None:
        return _cross_validate(clips, ds.labels, cfg, run_dir, args, card)
    result = train(clips, ds.labels, train_folds, val, cfg, args.out, run_dir, args.resume, card)
    if dist_info()[0] != 0:
        return 0
    print(f"\ntrained in {result.seconds / 60:.1f} min; best epoch(s) {result.best_epochs}")
    if result.val_metrics:
        print(f"validation: accuracy {result.val_metrics['accuracy']:.3f}, "
              f"macro-F1 {result.val_metrics['macro_f1']:.3f} (n={result.val_metrics['n']} windows)")
    print(f"saved {args.out} (+ .labels.json, .card.json); log and curve in {run_dir}")
    if test:
        from .evaluate import evaluate_clips
        from .model import load_model

        ev = evaluate_clips(load_model(args.out), select_folds(clips, test), workers=args.workers,
                            progress=not args.quiet)
        where = "test split" if "split" in card else f"test folds {args.test_folds}"
        print(f"{where}: accuracy {ev.metrics['accuracy']:.3f}, "
              f"macro-F1 {ev.metrics['macro_f1']:.3f} (n={ev.metrics['n']})")
    return 0


def _cross_validate(clips, labels, cfg, run_dir: Path, args, card: dict) -> int:
    """Each fold present is the test fold once; the next fold (cyclically) validates; the
    others train. With all 10 folds this is the paper's protocol (8 / 1 / 1)."""
    from .evaluate import evaluate_clips
    from .model import load_model
    from .train import dist_info, train

    folds = sorted({c.fold for c in clips})
    if len(folds) < 3:
        raise DatasetError(f"--cv needs at least 3 folds, found {folds}")
    rows = []
    for i, test_fold in enumerate(folds):
        val_fold = folds[(i + 1) % len(folds)]
        train_folds = [f for f in folds if f not in (test_fold, val_fold)]
        fold_dir = run_dir / f"cv_test{test_fold}"
        out = fold_dir / "model.pt"
        print(f"\n=== CV: test fold {test_fold}, validation fold {val_fold}, train folds {train_folds}")
        train(clips, labels, train_folds, [val_fold], cfg, out, fold_dir, args.resume, card)
        if dist_info()[0] != 0:
            continue
        ev = evaluate_clips(load_model(out), select_folds(clips, [test_fold]), workers=args.workers,
                            progress=not args.quiet)
        rows.append({"test_fold": test_fold, "val_fold": val_fold, "train_folds": train_folds,
                     "accuracy": ev.metrics["accuracy"], "macro_f1": ev.metrics["macro_f1"],
                     "n": ev.metrics["n"]})
        print(f"test fold {test_fold}: accuracy {rows[-1]['accuracy']:.3f}, macro-F1 {rows[-1]['macro_f1']:.3f}")
    if dist_info()[0] != 0:
        return 0
    mean_acc = sum(r["accuracy"] for r in rows) / len(rows)
    mean_f1 = sum(r["macro_f1"] for r in rows) / len(rows)
    print("\nCross-validation")
    print(f"{'test fold':>9} {'val fold':>8} {'n':>5} {'accuracy':>9} {'macro-F1':>9}")
    for r in rows:
        print(f"{r['test_fold']:>9} {r['val_fold']:>8} {r['n']:>5} {r['accuracy']:>9.3f} {r['macro_f1']:>9.3f}")
    print(f"{'mean':>9} {'':>8} {'':>5} {mean_acc:>9.3f} {mean_f1:>9.3f}")
    (run_dir / "cv_results.json").write_text(json.dumps(
        {"folds": rows, "mean_accuracy": mean_acc, "mean_macro_f1": mean_f1}, indent=1) + "\n")
    print(f"wrote {run_dir / 'cv_results.json'}")
    return 0


def combined_card(payloads: list[dict], paths: list[str], combine: dict) -> dict:
    from collections import Counter
    from datetime import datetime, timezone

    cards = [p.get("card", {}) for p in payloads]
    folds = sorted({f for c in cards for f in (c.get("train_folds") or [])})
    return {
        "name": "envaudio " + " + ".join(f"{n} x {net}" for net, n in
                                         Counter(m["network"] for p in payloads for m in p["members"]).items()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": cards[0].get("dataset"), "dataset_citation": cards[0].get("dataset_citation"),
        "train_folds": folds or None,
        "members": sum(len(p["members"]) for p in payloads),
        "training_seconds": round(sum(c.get("training_seconds") or 0 for c in cards), 1),
        "combine": combine,
        "sources": [{"file": "/".join(Path(path).parts[-2:]), **card} for path, card in zip(paths, cards)],
        "labels": payloads[0]["labels"],
    }


def fit_weights(payloads: list[dict], clips, settings, workers, progress: bool, step: float = 0.05) -> list[float]:
    """Weights (one per model, summing to 1) that maximise accuracy on `clips`, the
    validation folds (ties: the most even weights). Never fit on a test fold."""
    import itertools

    import numpy as np

    from .evaluate import evaluate_clips
    from .model import from_payload

    probs = [evaluate_clips(from_payload(p), clips, workers, progress, settings).probabilities
             for p in payloads]
    idx = {l: i for i, l in enumerate(payloads[0]["labels"])}
    y = np.array([idx[c.label] for c in clips])
    n = round(1 / step)
    best = None
    for k in itertools.product(range(n + 1), repeat=len(payloads) - 1):
        if sum(k) > n:
            continue
        w = np.array([*k, n - sum(k)]) / n
        acc = float((np.tensordot(w, np.stack(probs), axes=1).argmax(1) == y).mean())
        key = (acc, -float(np.abs(w - 1 / len(w)).sum()))
        if best is None or key > best[0]:
            best = (key, w)
    print(f"weights fitted on {len(clips)} validation clips: {np.round(best[1], 3).tolist()} "
          f"(accuracy {best[0][0]:.3f})")
    return [float(v) for v in best[1]]


def cmd_combine(args) -> int:
    from .model import combine_payloads, read_payload, save_model_files

    payloads = [read_payload(p) for p in args.models]
    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise DatasetError(f"--weights: cannot read {args.weights!r} (write e.g. 0.6,0.4)") from None
        if len(weights) != len(payloads) or min(weights) < 0 or sum(weights) <= 0:
            raise DatasetError("--weights needs one non-negative weight per model")
    elif args.fit_folds:
        clips, _ = load_clips(args.data_root, args.table)
        val = select_folds(clips, parse_folds(args.fit_folds))
        trained = {f for p in payloads for f in (p.get("card", {}).get("train_folds") or [])}
        if not val or trained & {c.fold for c in val}:
            raise DatasetError(f"--fit-folds must be validation folds present in the data that no model "
                               f"was trained on (trained on {sorted(trained)})")
        weights = fit_weights(payloads, val, get_settings(), args.workers, not args.quiet)
    combine = {"rule": "weighted", "weights": weights} if weights else {"rule": "mean"}
    if weights and args.fit_folds:
        combine["fitted_on_folds"] = parse_folds(args.fit_folds)
    payload = combine_payloads(payloads, weights, None, half=args.half)
    payload["card"] = combined_card(payloads, args.models, combine)
    if "fitted_on_folds" in combine:
        payload["combine"]["fitted_on_folds"] = combine["fitted_on_folds"]
    save_model_files(args.out, payload)
    size = Path(args.out).stat().st_size / 1e6
    print(f"saved {args.out} ({len(payload['members'])} members, {payload['combine']['rule']}, {size:.1f} MB)")
    return 0


def cmd_zero_shot(args) -> int:
    from .model import save_model_files
    from .zeroshot import TEMPERATURE, zero_shot_payload

    pretrained = Path(args.pretrained)
    if not pretrained.is_file():
        raise FileNotFoundError(f"--pretrained {pretrained}: no such file")
    mapping = None
    if args.map:
        try:
            mapping = json.loads(Path(args.map).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(f"--map {args.map}: cannot read it as JSON ({e})") from None
        if not isinstance(mapping, dict) or not all(
                isinstance(v, list) and all(isinstance(n, str) for n in v) for v in mapping.values()):
            raise DatasetError(f'--map {args.map}: write {{"label": ["AudioSet class", ...], ...}}')
    _check_output(args.out, "--out", create_parent=True)
    temperature = TEMPERATURE if args.temperature is None else args.temperature
    payload = zero_shot_payload(pretrained, args.class_map or pretrained.with_name("yamnet_class_map.csv"),
                                get_settings(), mapping, temperature)
    save_model_files(args.out, payload)
    print(f"saved {args.out} (zero-shot YAMNet, {len(payload['labels'])} classes, temperature {temperature:g})")
    return 0


def _heldout_spec(text: str) -> tuple[str, list[int]]:
    path, sep, folds = text.rpartition(":")
    if not sep or not path:
        raise DatasetError(f"--heldout {text!r}: write MODEL:FOLDS, e.g. runs/f23/model.pt:1")
    return path, parse_folds(folds)


def _heldout_predictions(spec: str, labels: list[str], clips, settings, args) -> dict:
    """The uncalibrated probabilities of a held-out model on the folds it never saw."""
    import numpy as np

    from .evaluate import evaluate_clips
    from .model import from_payload, read_payload

    path, folds = _heldout_spec(spec)
    payload = read_payload(path)
    if payload["labels"] != labels:
        raise DatasetError(f"{path}: its labels differ from the model's")
    seen = trained_on(payload.get("card"), folds)
    if seen is None:
        raise DatasetError(f"{path}: its card does not say which folds it was trained on, so it "
                           "cannot be checked to be held out")
    if seen:
        raise DatasetError(f"{path} was trained on fold(s) {seen}: not held-out data")
    test = select_folds(clips, folds)
    if not test:
        raise DatasetError(f"no clips in folds {folds}")
    payload = {k: v for k, v in payload.items() if k != "calibration"}  # its raw probabilities
    ev = evaluate_clips(from_payload(payload, path), test, args.workers, not args.quiet, settings)
    ok = ~np.isnan(ev.probabilities).any(axis=1)
    idx = {l: i for i, l in enumerate(labels)}
    y = np.array([idx[c.label] for c in test])[ok]
    return {"model": path, "folds": folds, "probs": ev.probabilities[ok].astype(np.float64), "y": y}


def _ood_rates(model_path: Path, ood_dir: str, settings) -> dict:
    """What the calibrated model says of audio of none of its classes: the share of
    files with each verdict, by kind (the file name's part before the first '-')."""
    from collections import Counter

    from .model import load_model
    from .predict import Classifier

    files = _expand_inputs([ood_dir])
    clf = Classifier(load_model(model_path), settings)
    verdicts, kinds, tops = [], [], Counter()
    for f in files:
        pred = clf.classify_file(f)
        verdicts.append(pred.verdict)
        kinds.append(f.stem.split("-")[0])
        if pred.verdict == "sound":
            tops[pred.top_label] += 1
    by_kind = {k: {"n": kinds.count(k),
                   "unknown_rate": sum(v == "unknown" for v, kk in zip(verdicts, kinds) if kk == k) / kinds.count(k)}
               for k in sorted(set(kinds))}
    return {"dir": ood_dir, "n": len(files), "unknown_rate": verdicts.count("unknown") / len(files),
            "silence_rate": verdicts.count("silence") / len(files), "by_kind": by_kind,
            "named_as": dict(tops.most_common())}


def cmd_calibrate(args) -> int:
    import numpy as np

    from .calibration import choose_threshold, fit_temperature, summary
    from .model import calibrate, read_payload, save_model

    s = get_settings()
    target_path = Path(args.model or s.model_path)
    out = Path(args.out) if args.out else target_path
    _check_output(args.report, "--report", create_parent=True)
    _check_output(str(out), "--out", create_parent=True)
    if not 0.0 <= args.max_right_lost < 1.0:
        raise DatasetError("--max-right-lost must be in [0, 1)")
    if args.ood and not Path(args.ood).is_dir():
        raise FileNotFoundError(f"--ood {args.ood}: no such folder")
    target = read_payload(target_path)
    labels = target["labels"]
    clips, _ = load_clips(args.data_root, args.table)
    sets = [_heldout_predictions(h, labels, clips, s, args) for h in args.heldout]
    P = np.concatenate([d["probs"] for d in sets])
    Y = np.concatenate([d["y"] for d in sets])
    T = fit_temperature(P, Y)
    thr = choose_threshold(calibrate(P, {"temperature": T}), Y, args.max_right_lost)
    report = {
        "command": "envaudio " + " ".join(sys.argv[1:]),
        "model": target_path.name, "temperature": T, "unknown_threshold": thr,
        "max_right_lost": args.max_right_lost,
        "heldout": [{"model": d["model"], "folds": d["folds"], "n": int(len(d["y"]))} for d in sets],
        "pooled": {"before": summary(P, Y, 0.0), "after": summary(calibrate(P, {"temperature": T}), Y, thr)},
    }
    if len(sets) > 1:  # honest figures: each set judged with T and threshold fitted on the others
        report["cross_fitted"] = []
        for i, d in enumerate(sets):
            Po = np.concatenate([o["probs"] for j, o in enumerate(sets) if j != i])
            Yo = np.concatenate([o["y"] for j, o in enumerate(sets) if j != i])
            t_i = fit_temperature(Po, Yo)
            thr_i = choose_threshold(calibrate(Po, {"temperature": t_i}), Yo, args.max_right_lost)
            report["cross_fitted"].append({
                "folds": d["folds"], "temperature": t_i, "unknown_threshold": thr_i,
                "before": summary(d["probs"], d["y"], 0.0),
                "after": summary(calibrate(d["probs"], {"temperature": t_i}), d["y"], thr_i)})
    target["calibration"] = {"temperature": T, "unknown_threshold": thr,
                             "fitted_on": report["heldout"], "ece_before": report["pooled"]["before"]["ece"],
                             "ece_after": report["pooled"]["after"]["ece"]}
    target.setdefault("card", {})["calibration"] = target["calibration"]
    save_model(out, target)
    card_file = Path(str(target_path) + ".card.json")
    if card_file.is_file() or out != target_path:
        Path(str(out) + ".card.json").write_text(json.dumps(target["card"], indent=1) + "\n")
    if args.ood:
        report["ood"] = _ood_rates(out, args.ood, s)
    Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    b, a = report["pooled"]["before"], report["pooled"]["after"]
    sources = ", ".join(f"{d['model']}: folds {d['folds']}" for d in sets)
    print(f"held-out clips: {b['n']} ({sources})")
    print(f"temperature {T:.3f}; ECE {b['ece']:.3f} -> {a['ece']:.3f}; NLL {b['nll']:.3f} -> {a['nll']:.3f}")
    print(f"unknown threshold {thr:.3f}: {100 * a['unknown_rate']:.1f} % of held-out clips become unknown "
          f"({100 * a['unknown_rate_of_wrong']:.0f} % of the wrong answers, {100 * a['unknown_rate_of_right']:.0f} % "
          f"of the right ones); accuracy of the rest {a['accuracy_of_the_rest']:.3f}")
    if "ood" in report:
        print(f"out-of-domain ({report['ood']['n']} files): {100 * report['ood']['unknown_rate']:.0f} % unknown")
    print(f"saved {out} (calibration written); report {args.report}")
    return 0


def cmd_export(args) -> int:
    from .engines import resolve_backend
    from .export import export_onnx
    from .model import load_model

    s = get_settings()
    resolve_backend("onnxruntime")  # the check needs it: fail before the work
    held_out = None
    if args.folds or args.data_root or args.table:
        if not (args.folds and (args.data_root or args.table)):
            raise DatasetError("--folds goes with --data-root or --table (the held-out clips for --int8)")
        if not args.int8:
            raise DatasetError("--folds measures the int8 accuracy change: add --int8")
    model = load_model(args.model or s.model_path, backend="torch")
    if args.int8 and args.folds:
        clips, _ = load_clips(args.data_root, args.table)
        folds = parse_folds(args.folds)
        held_out = select_folds(clips, folds)
        if not held_out:
            raise DatasetError(f"no clips in folds {folds}")
        seen = trained_on(model.card, folds)
        if seen:
            print(f"warning: the model was trained on fold(s) {', '.join(map(str, seen))}: the int8 "
                  "accuracy change there is not a held-out figure", file=sys.stderr)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out}: exists and is not a folder")
    log = (lambda *a: None) if args.quiet else print
    export_onnx(model, out, s.window_overlap, args.int8, held_out, s, log=log,
                warn=lambda m: print(m, file=sys.stderr))
    if args.quiet:
        print(out)
    return 0


def _check_output(path: str | None, option: str, create_parent: bool = False) -> None:
    """Fail before the work, not after it, when an output file cannot be written."""
    if path in (None, "-"):
        return
    p = Path(path)
    if create_parent:
        p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_dir():
        raise IsADirectoryError(f"{option} {p}: is a folder, not a file")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{option} {p}: no such folder {p.parent}")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise PermissionError(f"{option} {p}: not writable")


def trained_on(card: dict | None, folds: list[int]) -> list[int] | None:
    """The folds among `folds` the model was trained on (its card's train_folds); None
    when the card does not say (an old or custom model)."""
    train_folds = (card or {}).get("train_folds")
    if not isinstance(train_folds, list):
        return None
    return sorted(set(folds) & {int(f) for f in train_folds})


def evaluation_clips(args, card: dict | None) -> tuple[list, list[int] | None, str]:
    """(clips, folds or None, what they are, for the report): UrbanSound8K's fold 10 by
    default, --folds of data with folds, --split of the split the model was trained with,
    else every clip."""
    from .layouts import TEST_FOLD, VAL_FOLD, load_dataset, split_folds

    ds = load_dataset(args.data_root, args.table)
    if args.split:
        split = (card or {}).get("split") or {}
        if ds.has_folds or "val_fraction" not in split:
            raise DatasetError("--split needs data without folds and a model trained on such data with "
                               "a split (its card records the seed and fractions)")
        clips = split_folds(ds.clips, split["val_fraction"], split["test_fraction"], split["seed"])
        test = select_folds(clips, [VAL_FOLD if args.split == "val" else TEST_FOLD])
        if not test:
            raise DatasetError(f"the model's training held out no {args.split} split "
                               f"({'train with --test-split' if args.split == 'test' else 'it had --val-split 0'})")
        return test, None, f"the {args.split} split of {ds.source}"
    if args.folds is None and ds.layout != "urbansound8k":
        return ds.clips, None, ds.source
    folds = parse_folds(args.folds or "10")
    test = select_folds(ds.clips, folds)
    if not test:
        raise DatasetError(f"no clips in folds {folds} (folds present: {sorted({c.fold for c in ds.clips})})")
    return test, folds, f"folds {folds}"


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_clips, format_report, plot_confusion
    from .model import load_model

    s = get_settings()
    _check_output(args.json_out, "--json", create_parent=True)
    _check_output(args.plot, "--plot", create_parent=True)
    model = load_model(args.model or s.model_path)
    test, folds, what = evaluation_clips(args, model.card)
    seen = trained_on(model.card, folds or [])
    warning = (f"warning: {Path(model.path).name} was trained on fold(s) "
               f"{', '.join(map(str, seen))} (its card's train_folds): these figures do not "
               "measure accuracy on unseen recordings") if seen else None
    if warning:
        print(warning, file=sys.stderr)
    ev = evaluate_clips(model, test, args.workers, not args.quiet, s)
    print(f"Evaluated {model.path} on {what}: {len(test)} clips in {ev.seconds:.1f} s "
          f"({ev.clips_per_second:.0f} clips/s, decoding included)\n")
    print(format_report(ev.metrics))
    if warning:  # again after the report, where it is read
        print(f"\n{warning}", file=sys.stderr)
    if ev.errors:
        print(f"\nwarning: {len(ev.errors)} file(s) could not be decoded and were left out, "
              f"e.g. {ev.errors[0]}", file=sys.stderr)
    plot = args.plot or (str(Path(args.json_out).with_suffix(".png")) if args.json_out else "confusion_matrix.png")
    Path(plot).parent.mkdir(parents=True, exist_ok=True)
    plot_confusion(ev.metrics, plot, f"{Path(model.path).name} on {what}")
    print(f"\nconfusion matrix plot: {plot}")
    if args.json_out:
        keep = ("accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n",
                "macro_avg", "weighted_avg")
        out = {k: ev.metrics[k] for k in keep}
        out.update(folds=folds, split=args.split, data=what, model=model.path, clips_per_second=ev.clips_per_second,
                   undecodable=len(ev.errors), model_train_folds=(model.card or {}).get("train_folds"),
                   trained_on_test_folds=None if seen is None else bool(seen))
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
        print(f"metrics JSON: {args.json_out}")
    return 0


def _expand_inputs(inputs: list[str]) -> list[Path]:
    from .data import AUDIO_EXTS

    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTS)
            if not found:
                raise FileNotFoundError(f"no audio files in folder {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return files


def cmd_predict(args) -> int:
    from tqdm import tqdm

    from .predict import load_classifier

    if args.top_k < 1:
        raise DatasetError("--top-k must be at least 1")
    _check_output(args.json_out, "--json")
    _check_output(args.csv_out, "--csv")
    files = _expand_inputs(args.inputs)
    clf = load_classifier(args.model)
    results, failed = [], 0
    show_bar = len(files) > 1 and sys.stderr.isatty()
    for path in tqdm(files, desc="predict", unit="file", disable=not show_bar):
        try:
            pred = clf.classify_file(path)
        except AudioError as e:
            failed += 1
            print(f"envaudio predict: error: {e}", file=sys.stderr)
            results.append({"file": str(path), "error": str(e)})
            continue
        d = {"file": str(path), **pred.to_dict(args.top_k)}
        results.append(d)
        if not (args.json_out == "-" or args.csv_out == "-"):
            tops = ", ".join(f"{l} {c:.2f}" for l, c in pred.top_k(args.top_k))
            print(f"{path}: {headline(pred)}  [{tops}]  {pred.duration:.1f} s, {len(pred.windows)} window(s)")
            if args.events:
                print(format_events(pred))
            if args.windows and len(pred.windows) > 1:
                for w in pred.windows:
                    print(f"    {w.start:7.1f}-{w.end:7.1f} s  {w.label} ({w.confidence:.2f})")
    if args.json_out:
        text = json.dumps(results, indent=1)
        if args.json_out == "-":
            print(text)
        else:
            Path(args.json_out).write_text(text + "\n")
    if args.csv_out:
        if args.events:
            _write_events_csv(results, args.csv_out)
        else:
            _write_predictions_csv(results, clf.labels, args.csv_out)
    if failed == len(files):
        return 1
    return 0


def headline(pred) -> str:
    """One line for a person: the sounds heard, or that nothing (recognisable) was."""
    if pred.verdict == "silence":
        return f"nothing heard (silence, {pred.level_dbfs:.0f} dBFS)"
    if pred.verdict == "unknown":
        return f"not sure (best guess {pred.top_label} {pred.top_confidence:.2f})"
    names = list(dict.fromkeys(e.label for e in pred.events))
    if len(pred.windows) <= 1 and len(names) == 1:
        return f"{names[0]} ({pred.top_confidence:.2f})"
    return f"{len(pred.events)} sound event(s): {', '.join(names)}"


def format_events(pred) -> str:
    """The event table (start, end, label, confidence), indented under the file's line."""
    if not pred.events:
        return f"    no events ({pred.verdict}, level {pred.level_dbfs:.0f} dBFS)"
    rows = [f"    {'start':>7} {'end':>7}  {'label':<18} confidence"]
    rows += [f"    {e.start:7.1f} {e.end:7.1f}  {e.label:<18} {e.confidence:.2f}" for e in pred.events]
    return "\n".join(rows)


def _write_events_csv(results: list[dict], out: str) -> None:
    """One row per event; a file without events gets one row with its verdict."""
    f = sys.stdout if out == "-" else open(out, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(["file", "verdict", "level_dbfs", "start", "end", "label", "confidence", "error"])
        for r in results:
            if "error" in r:
                w.writerow([r["file"], "", "", "", "", "", "", r["error"]])
                continue
            head = [r["file"], r["verdict"], r["level_dbfs"]]
            for e in r["events"] or [None]:
                w.writerow(head + ([e["start"], e["end"], e["label"], f"{e['confidence']:.4f}"] if e else
                                   ["", "", "", ""]) + [""])
    finally:
        if f is not sys.stdout:
            f.close()


def _write_predictions_csv(results: list[dict], labels: list[str], out: str) -> None:
    """One row per window (a short file has one window), with every class's probability."""
    f = sys.stdout if out == "-" else open(out, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(["file", "window_start", "window_end", "label", "confidence", *labels, "error"])
        for r in results:
            if "error" in r:
                w.writerow([r["file"], "", "", "", "", *[""] * len(labels), r["error"]])
                continue
            for win in r["windows"]:
                w.writerow([r["file"], win["window_start"], win["window_end"], win["label"],
                            f"{win['confidence']:.4f}", *[f"{win['probabilities'][l]:.4f}" for l in labels], ""])
    finally:
        if f is not sys.stdout:
            f.close()
