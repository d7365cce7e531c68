"""`envaudio analyze IN --out OUT`: every audio file under IN analysed once, results
mirrored under OUT, resumable at any point (state.py), on local processes or Ray actors.

    from envaudio.archive import analyze
    summary = analyze("recordings/", "results/", formats=("csv", "raven"), workers=2)
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import audio_files
from . import formats as F
from .errors import EngineError, FormatError, InputError, OutputError
from .state import (OutLock, config_key, file_sha256, is_done, read_record, remove_temp_files, source_stamp,
                    state_dir, write_file_result, write_if_changed)

ENGINES = ("local", "ray")
TOP_K = 3
_BYTES_PER_SECOND_GUESS = 32000.0  # for the progress bar's ETA: a file whose header gives no duration


@dataclass
class Job:
    rel: str  # path relative to IN (posix), the key of everything under OUT
    path: Path
    stamp: dict
    estimate: float = 0.0  # seconds of audio, for the progress bar


@dataclass
class Summary:
    out: Path
    files: int = 0  # audio files under IN
    analysed: int = 0  # analysed by this run (errors included)
    skipped: int = 0  # already done (unchanged since)
    seconds_of_audio: float = 0.0  # in OUT, over every file done
    seconds_this_run: float = 0.0  # audio analysed by this run
    wall_seconds: float = 0.0
    events_per_class: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # (path, reason), every file in errors.csv
    new_errors: int = 0  # of those, found by this run
    engine: str = "local"
    workers: int | None = 1  # None: Ray's default, one actor per CPU of the cluster

    @property
    def hours(self) -> float:
        return self.seconds_of_audio / 3600

    @property
    def audio_hours_per_hour(self) -> float:
        """Audio analysed by this run per wall-clock hour (0 when nothing was to do)."""
        return self.seconds_this_run / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [f"{self.files} audio file(s), {self.hours:.3f} h of audio: {self.analysed} analysed now, "
               f"{self.skipped} already done; results in {self.out}"]
        if self.analysed:
            out.append(f"this run: {self.seconds_this_run / 3600:.3f} h of audio in {self.wall_seconds:.1f} s "
                       f"({self.audio_hours_per_hour:.0f} audio-hours per hour, {self.engine}, "
                       f"{f'{self.workers} worker(s)' if self.workers else 'an actor per CPU of the cluster'})")
        if self.events_per_class:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.events_per_class.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(f"events: {sum(self.events_per_class.values())} ({per})")
        else:
            out.append("events: none")
        if self.errors:
            first = "; ".join(f"{p}: {r}" for p, r in self.errors[:3])
            more = f" (+{len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            out.append(f"errors: {len(self.errors)} file(s) could not be analysed, listed in "
                       f"{self.out / F.ERRORS_CSV}: {first}{more}")
        else:
            out.append("errors: none")
        return out


# --- checks before anything is written ---------------------------------------------------

def find_inputs(src: str | os.PathLike) -> tuple[Path, list[tuple[str, Path]]]:
    """IN -> (its root, [(path relative to the root, path)]), sorted."""
    root = Path(src)
    if root.is_file():
        return root.parent, [(root.name, root)]
    if not root.exists():
        raise InputError(f"no such file or folder: {root}")
    if not root.is_dir():
        raise InputError(f"{root}: not a file or a folder")
    try:
        files = audio_files([root])
    except FileNotFoundError:
        raise InputError(f"no audio files in {root} (looked for {', '.join(F_EXTS())} in every "
                         "subfolder)") from None
    return root, [(p.relative_to(root).as_posix(), p) for p in files]


def F_EXTS() -> tuple[str, ...]:
    from ..fileio import AUDIO_EXTS

    return AUDIO_EXTS


def prepare_out(out: str | os.PathLike) -> Path:
    """OUT made (with its parents) and checked writable, or one clear OutputError."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: not writable")
    try:
        out.mkdir(parents=True, exist_ok=True)
        state_dir(out).mkdir(exist_ok=True)  # the first write: fails on a read-only file system too
    except OSError as e:
        raise OutputError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def check_formats(formats) -> tuple[str, ...]:
    if formats is None:
        return F.DEFAULT_FORMATS
    try:
        return F.parse_formats(formats if isinstance(formats, str) else ",".join(formats))
    except ValueError as e:
        raise FormatError(str(e)) from None


def estimate_seconds(path: Path) -> float:
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception:
        try:
            return path.stat().st_size / _BYTES_PER_SECOND_GUESS
        except OSError:
            return 0.0


# --- the progress bar -------------------------------------------------------------------

class Progress:
    """Files, audio hours and audio-hours/s, ETA (tqdm, on stderr). The bar advances by
    each file's duration as its header gives it, so the ETA weighs long files, and moves
    within a file as it is analysed (`partial`: a recording of hours streams through)."""

    def __init__(self, jobs: list[Job], enabled: bool):
        self.n = len(jobs)
        self.done = 0
        self.audio = 0.0
        self.errors = 0
        self.t0 = time.perf_counter()
        self.shown: dict[str, float] = {}  # seconds of each file under way already on the bar
        self.bar = None
        if enabled and jobs:
            from tqdm import tqdm

            self.bar = tqdm(total=max(sum(j.estimate for j in jobs), 1e-9), desc="analyze", file=sys.stderr,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
                            dynamic_ncols=True, leave=True)
            self._postfix()

    def _postfix(self) -> None:
        rate = self.audio / 3600 / max(time.perf_counter() - self.t0, 1e-9)
        err = f", {self.errors} error(s)" if self.errors else ""
        self.bar.set_postfix_str(f"{self.done}/{self.n} files, {self.audio / 3600:.2f} h audio, "
                                 f"{rate:.3g} audio-h/s{err}", refresh=False)

    def advance(self, job: Job, result: dict) -> None:
        self.done += 1
        self.audio += result.get("duration") or 0.0
        self.errors += result["status"] != "ok"
        if self.bar is not None:
            self._postfix()
            self.bar.update(max(0.0, job.estimate - self.shown.pop(job.rel, 0.0)))

    def partial(self, job: Job, seconds: float) -> None:
        """`seconds` of `job`'s audio analysed so far."""
        if self.bar is not None:
            step = min(seconds, job.estimate) - self.shown.get(job.rel, 0.0)
            if step > 0:
                self.shown[job.rel] = self.shown.get(job.rel, 0.0) + step
                self.bar.update(step)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --- the run ------------------------------------------------------------------------------

def analyze(src: str | os.PathLike, out: str | os.PathLike, formats=None, *, workers: int | None = None,
            embeddings: bool = False, engine: str = "local", address: str | None = None,
            model: str | os.PathLike | None = None, retry_errors: bool = False, progress: bool | None = None,
            settings=None, log=None) -> Summary:
    """Analyse every audio file under `src` into `out` (see the package docstring).
    `workers`: local processes (default 1) or Ray actors (default: the cluster's CPUs).
    `progress`: the bar (default: when stderr is a terminal). `log`: where the summary's
    lines go (default: nowhere; the command prints them)."""
    from ..settings import get_settings

    t0 = time.perf_counter()
    s = settings or get_settings()
    fmts = check_formats(formats)
    per_file = tuple(f for f in fmts if f in F.PER_FILE_FORMATS)
    if engine not in ENGINES:
        raise EngineError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if workers is not None and workers < 1:
        raise EngineError(f"--workers must be at least 1, not {workers}")
    if address and engine != "ray":
        raise EngineError("--address is for --engine ray")
    if engine == "ray":
        from .ray_engine import check_ray

        check_ray()
    model_path = s.model_file(model)
    if not model_path.is_file():
        raise InputError(f"--model {model_path}: no such model file")
    s = with_thresholds(s, model_path)
    root, inputs = find_inputs(src)
    out = prepare_out(out)
    summary = Summary(out=out, files=len(inputs), engine=engine,
                      workers=workers or (None if engine == "ray" else 1))
    with OutLock(out):
        remove_temp_files(out)
        config = config_key(file_sha256(model_path), s, TOP_K)
        jobs: list[Job] = []
        stat_errors: list[tuple[Job, dict]] = []
        for rel, path in inputs:
            try:
                stamp = source_stamp(path)
            except OSError as e:
                stat_errors.append((Job(rel, path, {}), {"rel": rel, "status": "error", "reason": str(e)}))
                continue
            if is_done(read_record(out, rel), stamp, config, per_file, embeddings, out, retry_errors):
                summary.skipped += 1
            else:
                jobs.append(Job(rel, path, stamp))
        for j in jobs:
            j.estimate = estimate_seconds(j.path)
        bar = Progress(jobs, sys.stderr.isatty() if progress is None else progress)
        try:
            for job, result in stat_errors:
                _finish(out, job, result, config, per_file, summary, bar)
            if jobs:
                model_arg = None if model is None else str(model_path)
                if engine == "ray":
                    from .ray_engine import run_ray

                    results = run_ray(jobs, workers, address, model_arg, per_file, embeddings, TOP_K, s)
                else:
                    results = run_local(jobs, workers or 1, model_arg, per_file, embeddings, TOP_K, s,
                                        lambda rel, sec: bar.partial(by_rel[rel], sec))
                by_rel = {j.rel: j for j in jobs}
                for result in results:
                    _finish(out, by_rel[result["rel"]], result, config, per_file, summary, bar)
        finally:
            bar.close()
        summary.wall_seconds = time.perf_counter() - t0
        write_tables(out, [rel for rel, _ in inputs], fmts, summary, root, s, threshold_table(s, model_path))
    for line in summary.lines() if log else ():
        log(line)
    return summary


def _finish(out: Path, job: Job, result: dict, config: str, per_file, summary: Summary, bar: Progress) -> None:
    """Write one file's outputs and record, as soon as it is analysed."""
    record = {"file": job.rel, "source": job.stamp, "config": config, "status": result["status"]}
    if result["status"] == "ok":
        record.update(duration=result["duration"], verdict=result["verdict"], level_dbfs=result["level_dbfs"],
                      events=result["events"], formats=list(per_file), embeddings=result.get("embeddings"),
                      high_freq=result.get("high_freq"))
        write_file_result(out, job.rel, result["outputs"], record)
        summary.seconds_this_run += result["duration"]
    else:
        record["reason"] = result["reason"]
        write_file_result(out, job.rel, {}, record)
        summary.new_errors += 1
        bar.write(f"envaudio analyze: {job.rel}: {result['reason']}")
    summary.analysed += 1
    bar.advance(job, result)


def with_thresholds(s, model_path: Path):
    """Settings whose THRESHOLDS, if any, are checked against the model's classes and
    carried inline (the workers and Ray actors on other machines need not see the file)."""
    if not s.thresholds:
        return s
    from ..thresholds import check_labels, inline, read_thresholds

    if model_path.suffix == ".envaudio":
        from ..modelfile import read_meta

        check_labels(read_thresholds(s.thresholds), read_meta(model_path)["labels"], s.thresholds)
    return s.replace(thresholds=inline(s.thresholds))


def threshold_table(s, model_path: Path) -> dict | None:
    """{label: its unknown threshold} in force for this run (summary.json says it; `envaudio
    segments` and `thresholds` start from it), or None for a training file."""
    if model_path.suffix != ".envaudio":
        return None
    from ..events import EventParams
    from ..modelfile import read_meta

    meta = read_meta(model_path)
    p = EventParams.from_settings(s, (meta.get("calibration") or {}).get("unknown_threshold", 0.0), meta["labels"])
    return {label: round(p.threshold_of(i), 4) for i, label in enumerate(meta["labels"])}


def write_tables(out: Path, rels: list[str], fmts, summary: Summary, root: Path | None = None,
                 settings=None, thresholds: dict | None = None) -> None:
    """The combined tables, from the records of IN's files (a file without one, from a run
    that was stopped, is left out until it is analysed); each rewritten only if changed."""
    events, errors, embeddings, per_class, seconds, ok = [], [], [], Counter(), 0.0, 0
    raven = []
    for rel in rels:
        rec = read_record(out, rel)
        if rec is None:
            continue
        if rec["status"] == "ok":
            ok += 1
            seconds += rec.get("duration") or 0.0
            events.append((rel, rec.get("events") or []))
            raven.append((rel, rec.get("events") or [], rec.get("duration"), rec.get("high_freq")))
            per_class.update(e["label"] for e in rec.get("events") or [])
            emb = rec.get("embeddings")
            if emb:
                embeddings.append((rel, emb["path"], emb["windows"]))
        else:
            errors.append((rel, rec.get("reason", "")))
    if "csv" in fmts or (out / F.EVENTS_CSV).exists():
        write_if_changed(out / F.EVENTS_CSV, F.events_csv_bytes(events))
    if root is not None and ("raven" in fmts or (out / F.SELECTIONS_TXT).exists()):
        write_if_changed(out / F.SELECTIONS_TXT, F.combined_raven_bytes(raven, root.resolve()))
    if embeddings or (out / F.EMBEDDINGS_CSV).exists():
        write_if_changed(out / F.EMBEDDINGS_CSV, F.embeddings_csv_bytes(embeddings))
    write_if_changed(out / F.ERRORS_CSV, F.errors_csv_bytes(errors))
    summary.seconds_of_audio = seconds
    summary.events_per_class = dict(sorted(per_class.items()))
    summary.errors = errors
    import json

    doc = {"files": len(rels), "analysed": ok, "errors": len(errors), "audio_seconds": round(seconds, 3),
           "audio_hours": round(seconds / 3600, 4), "events": sum(per_class.values()),
           "events_per_class": summary.events_per_class}
    if root is not None:
        doc["input"] = str(root.resolve())  # where `envaudio segments` finds the audio
    if thresholds is not None:
        doc["unknown_thresholds"] = thresholds
    if settings is not None and (settings.thresholds or settings.min_confidence):
        from ..thresholds import read_thresholds

        doc["thresholds"] = read_thresholds(settings.thresholds)  # what --thresholds gave
        doc["min_confidence"] = settings.min_confidence
    write_if_changed(out / F.SUMMARY_JSON, (json.dumps(doc, indent=1) + "\n").encode())


# --- local processes ----------------------------------------------------------------------

def run_local(jobs: list[Job], workers: int, model_path, per_file, embeddings: bool, top_k: int, settings,
              on_progress=None):
    """Yield each job's result as it finishes: in this process for one worker, else in
    `workers` processes (spawned, each loading the model once, cores shared out).
    `on_progress(rel, seconds)`: how far into a file the analysis is."""
    from .worker import Analyzer

    if workers == 1:
        a = Analyzer(model_path, per_file, embeddings, None, top_k, settings)
        for j in jobs:
            yield a.analyze(j.rel, str(j.path), on_progress and (lambda sec, rel=j.rel: on_progress(rel, sec)))
        return
    yield from _run_pool(jobs, workers, model_path, per_file, embeddings, top_k, settings, on_progress)


def drain(q) -> list:
    """What a multiprocessing queue holds now (nothing for None)."""
    import queue

    out = []
    while q is not None:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
    return out


def _run_pool(jobs, workers, model_path, per_file, embeddings, top_k, settings, on_progress=None):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from ..settings import available_cpus
    from .worker import analyze_in_process, init_process

    threads = max(1, available_cpus() // workers)
    progress = mp.get_context("spawn").Queue() if on_progress else None  # (rel, seconds) from the workers
    todo = list(reversed(jobs))
    returned, restarts = 0, 0
    while todo:
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_process,
                                   initargs=(os.getpid(), model_path, per_file, embeddings, threads, top_k, settings,
                                             progress))
        pending: dict = {}
        broken = False
        try:
            while todo or pending:
                while todo and len(pending) < 2 * workers and not broken:
                    j = todo.pop()
                    pending[pool.submit(analyze_in_process, j.rel, str(j.path))] = j
                if not pending:
                    break
                done, _ = wait(pending, timeout=0.5 if progress else None, return_when=FIRST_COMPLETED)
                for rel, sec in drain(progress):
                    on_progress(rel, sec)
                for f in done:
                    j = pending.pop(f)
                    try:
                        r = f.result()
                    except BrokenProcessPool:
                        if returned == 0:
                            raise EngineError("the worker processes could not start or died at once "
                                              "(out of memory? try fewer --workers)") from None
                        broken = True
                        r = {"rel": j.rel, "status": "error", "reason": "the worker process analysing it died "
                             "(out of memory?); run again with --retry-errors to try it again"}
                    returned += 1
                    yield r
                if broken and not pending:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken:
            restarts += 1
            if restarts > 3:
                raise EngineError("worker processes keep dying (out of memory? try fewer --workers)")
