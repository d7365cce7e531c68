"""The monitor's loop: a source's audio through the streaming core, its final events and
levels written under DIR as they come, unattended.

- A source read in a thread of its own, through a bounded queue: a file or stdin waits for
  the analysis (processed at full speed, nothing lost); a live one (a sound card, a
  network stream, --realtime) never waits: what the analysis cannot keep up with is
  dropped, counted and recorded as a gap, so the monitor never falls behind.
- A live source that stops after working (a dropped connection, a stall, a device gone)
  is opened again with backoff (1, 2, 4 ... 60 s); the time without audio is a row of
  gaps.csv. One that cannot be opened at all is an error (one line, exit 2).
- Each stretch of audio without a gap is one Listener (a segment); its times are
  placed on the run's clock (seconds from the start, and UTC from the wall clock at the
  start or --start-time).
- SIGINT and SIGTERM end the current segment (its last events and rows written) and exit 0.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ..levels import FrameLevels, event_level, interval_rows, level_db, unit
from ..listen import Listener
from ..loading import BATCH
from .outputs import EVENT_COLUMNS, GAP_COLUMNS, Clips, CsvLog, at, iso, level_columns, prepare_dir
from .sources import Source, SourceError, SourceLost

QUEUE_SECONDS = 10.0  # a live source's audio waiting for the analysis, at most
MAX_BACKOFF = 60.0


@dataclass
class Options:
    out: str
    interval: float = 60.0
    calibration_db: float = 0.0
    rotate: str = "none"  # none | daily
    save_clips: set = field(default_factory=set)
    metrics_port: int | None = None
    start_time: datetime | None = None
    quiet: bool = False


class Monitor:
    def __init__(self, clf, source: Source, opts: Options, log=None):
        self.clf, self.src, self.o = clf, source, opts
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.labels = clf.labels
        self.fs = clf.event_params.frame_seconds
        self.unit = unit(opts.calibration_db)
        self.stop = threading.Event()
        self.dir = prepare_dir(opts.out)
        daily = opts.rotate == "daily"
        self.events_csv = CsvLog(self.dir, "events", EVENT_COLUMNS, daily)
        self.levels_csv = CsvLog(self.dir, "levels", level_columns(self.labels), daily)
        self.gaps_csv = CsvLog(self.dir, "gaps", GAP_COLUMNS, daily)
        self.clips = Clips(self.dir, set(opts.save_clips), clf.sample_rate) if opts.save_clips else None
        self.metrics = None
        self.counts: Counter = Counter()  # events of the current interval, by class
        self.dropped_total = 0.0

    # --- the run ------------------------------------------------------------------------

    def run(self) -> int:
        if self.o.metrics_port is not None:
            from .metrics import Metrics, serve_metrics

            self.metrics = Metrics(self.labels)
            try:
                serve_metrics(self.metrics, self.o.metrics_port)
            except OSError as e:
                raise SourceError(f"--metrics-port {self.o.metrics_port}: cannot listen there ({e.strerror or e})") \
                    from None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop.set())
        self.t0 = self.o.start_time or datetime.now(timezone.utc)
        self.offset, first, backoff, lost_at = 0.0, True, 1.0, None
        try:
            while not self.stop.is_set():
                try:
                    self.src.open()
                except SourceError as e:
                    if first or not self.src.reconnects:
                        raise
                    self._state("reconnecting")
                    self.log(f"envaudio monitor: {e}; trying again in {backoff:g} s")
                    self.stop.wait(backoff)
                    backoff = min(MAX_BACKOFF, 2 * backoff)
                    continue
                if lost_at is not None:  # back after a loss: the time without audio
                    self.offset = max(self.offset, (datetime.now(timezone.utc) - self.t0).total_seconds())
                    self._gap(lost_at, self.offset, self.lost_reason)
                first, backoff = False, 1.0
                self._state("running")
                ended = self._segment()
                self.src.close()
                if ended or not self.src.reconnects:
                    break
                lost_at = self.offset
        finally:
            self.src.close()
            self._state("finished")
            for log in (self.events_csv, self.levels_csv, self.gaps_csv):
                log.sync()
                log.close()
        return 0

    def _state(self, state: str) -> None:
        if self.metrics is not None:
            self.metrics.state = state
            self.metrics.up.set(1 if state == "running" else 0)

    def _reader(self, q: queue.Queue) -> None:
        """The source's blocks into `q`: ("audio", x), ("drop", seconds), ("end",) or
        ("lost", reason). A live source's blocks are dropped while `q` is full."""
        dropped = 0.0
        try:
            while not self.stop.is_set():
                x = self.src.read()
                if x is None:
                    if dropped:  # what was dropped just before the end is a gap too
                        q.put(("drop", dropped))
                    q.put(("end",))
                    return
                if not self.src.live:
                    q.put(("audio", x))
                    continue
                try:
                    if dropped:
                        q.put_nowait(("drop", dropped))
                        dropped = 0.0
                    q.put_nowait(("audio", x))
                except queue.Full:
                    dropped += len(x) / self.clf.sample_rate
        except Exception as e:  # noqa: BLE001 (a reader that fails is a lost source, said in one line)
            if dropped:
                q.put(("drop", dropped))
            q.put(("lost", str(e) if isinstance(e, SourceLost) else f"{type(e).__name__}: {e}"))

    def _segment(self) -> bool:
        """One connection's audio, to its end (True: the source is over) or its loss."""
        sr = self.clf.sample_rate
        q: queue.Queue = queue.Queue(maxsize=max(2, int(QUEUE_SECONDS / 0.5)))
        threading.Thread(target=self._reader, args=(q,), daemon=True, name="source").start()
        seg = Segment(self, Listener(self.clf, sr, batch=1 if self.src.live else BATCH), self.offset)
        while True:
            try:
                item = q.get(timeout=0.25)
            except queue.Empty:
                if self.stop.is_set():
                    seg.finish()
                    self.offset = seg.end
                    return True
                seg.flush()  # the source paused: what is waiting for a batch is classified now
                continue
            if item[0] == "audio":
                seg.push(item[1])
                if self.stop.is_set():
                    seg.finish()
                    self.offset = seg.end
                    return True
            elif item[0] == "drop":  # the analysis fell behind a live source: a gap, a new segment
                seg.finish()
                self.dropped_total += item[1]
                if self.metrics is not None:
                    self.metrics.dropped.inc(item[1])
                self._gap(seg.end, seg.end + item[1], "dropped: the analysis was behind the source")
                seg = Segment(self, Listener(self.clf, sr, batch=1), seg.end + item[1])
            else:
                seg.finish()
                self.offset = seg.end
                if item[0] == "lost":
                    self.lost_reason = item[1]
                    self.log(f"envaudio monitor: {item[1]}")
                return item[0] == "end"

    def _gap(self, a: float, b: float, reason: str) -> None:
        self.gaps_csv.write({"start_time": iso(at(self.t0, a)), "end_time": iso(at(self.t0, b)), "start_s": f"{a:.3f}",
                             "end_s": f"{b:.3f}", "seconds": f"{b - a:.3f}", "reason": reason}, at(self.t0, a))
        if self.metrics is not None:
            self.metrics.gaps.inc()

    # --- rows -----------------------------------------------------------------------------

    def event_row(self, e, frames: FrameLevels, frames_t0: float) -> None:
        cal = self.o.calibration_db
        laeq = event_level(frames, e, self.fs, cal, frames_t0)
        a = max(0, int(np.floor((e.start - frames_t0) / self.fs + 1e-9)))
        b = max(a + 1, int(np.ceil((e.end - frames_t0) / self.fs - 1e-9)))
        peak = frames.fast_max[a:b]
        lamax = float(level_db(peak.max(), cal)) if len(peak) else laeq
        when = at(self.t0, e.start)
        clip = self.clips.save(e.label, e.start, e.end, when) if self.clips and self.clips.wants(e.label) else ""
        self.events_csv.write({"start_time": iso(when), "end_time": iso(at(self.t0, e.end)), "start_s": f"{e.start:.3f}",
                               "end_s": f"{e.end:.3f}", "label": e.label, "confidence": f"{e.confidence:.4f}",
                               "laeq": f"{laeq:.2f}", "lamax": f"{lamax:.2f}", "unit": self.unit, "clip": clip}, when)
        self.counts[e.label] += 1
        if self.metrics is not None:
            self.metrics.events.labels(e.label).inc()

    def level_row(self, row: dict, audio_s: float) -> None:
        when = at(self.t0, row["start_s"])
        self.levels_csv.write({**row, "start_time": iso(when), "audio_s": f"{audio_s:.1f}", "unit": self.unit}, when)
        self.levels_csv.sync()
        if self.metrics is not None:
            self.metrics.laeq.set(row["laeq"])
        if not self.o.quiet:
            per = ", ".join(f"{k} {v}" for k, v in self.counts.most_common()) or "none"
            self.log(f"{iso(when)}  LAeq {row['laeq']:.1f} {self.unit}  LAFmax {row['lamax']:.1f}  "
                     f"L90 {row['l90']:.1f}  events: {per}  ({audio_s:.0f} s of audio"
                     f"{f', {self.dropped_total:.1f} s dropped so far' if self.dropped_total else ''})")
        self.counts.clear()


def row_end(frame: int, offset: float, fs: float, interval: float) -> int:
    """The segment frame where the run's interval holding segment frame `frame` ends:
    the first frame at or after the interval's edge, always past `frame`.

    A segment after a gap starts at a wall-clock offset, off the frame grid, so an
    edge rounds to the nearest frame and that frame can begin a little before the
    edge: it then belongs to the next interval (otherwise the row would end where it
    starts, and the writer would loop on it forever)."""
    start = offset + frame * fs
    k = int(np.floor(start / interval + 1e-9))
    while True:
        k += 1
        upto = int(round((k * interval - offset) / fs))
        if upto > frame:
            return upto


class Segment:
    """One stretch of audio without a gap, starting `offset` s into the run: its events
    and frames placed on the run's clock, its interval rows written once final."""

    def __init__(self, mon: Monitor, listener: Listener, offset: float):
        self.m, self.listener, self.offset = mon, listener, offset
        self.frames = FrameLevels.empty()  # A-weighted levels of frames from self.f0 (segment frames)
        self.f0 = 0
        self.events: list = []  # final events (run seconds) that may still fall in a pending row
        self.row_from = 0  # segment frame: rows are written up to here

    @property
    def end(self) -> float:
        return self.offset + self.listener.seconds

    def push(self, x: np.ndarray) -> None:
        if self.m.metrics is not None:
            self.m.metrics.audio.inc(len(x) / self.m.clf.sample_rate)
        if self.m.clips is not None:
            self.m.clips.push(x, self.offset + self.listener.seconds + len(x) / self.m.clf.sample_rate)
        self._take(self.listener.push(x), last=False)

    def flush(self) -> None:
        if not self.listener.finished:
            self._take(self.listener.flush(), last=False)

    def finish(self) -> None:
        if not self.listener.finished:
            self._take(self.listener.finish(), last=True)

    def _take(self, up, last: bool) -> None:
        m, fs = self.m, self.m.fs
        self.frames = FrameLevels.concat([self.frames, up.levels])
        t0 = self.offset + self.f0 * fs
        for e in up.events:
            e.start, e.end = round(e.start + self.offset, 3), round(e.end + self.offset, 3)
            m.event_row(e, self.frames, t0)
            self.events.append(e)
        # rows: every whole interval of the run's clock whose events are all final
        final = len(self.frames) + self.f0 if last else min(
            len(self.frames) + self.f0, int((self.listener.final_until) / fs))
        while True:
            upto = row_end(self.row_from, self.offset, fs, m.o.interval)
            if upto > final:
                if not last or self.row_from >= final:
                    break
                upto = final
            self._row(self.row_from, upto)
            self.row_from = upto
        self._forget()

    def _row(self, a: int, b: int) -> None:
        m = self.m
        fr = self.frames[a - self.f0:b - self.f0]
        if not len(fr):
            return
        t0 = self.offset + a * m.fs
        rows = interval_rows(fr, self.events, m.labels, len(fr) * m.fs + 1.0, m.fs, m.o.calibration_db, t0)
        m.level_row(rows[0], fr.samples.sum() / m.clf.sample_rate)

    def _forget(self) -> None:
        """Keep the frames an event to come may need (up to the longest wait for one to be
        final) and the rows not yet written."""
        keep_from = min(self.row_from, int(self.listener.final_until / self.m.fs) - 10)
        k = max(0, keep_from - self.f0)
        if k:
            self.frames = self.frames[k:]
            self.f0 += k
        t = self.offset + self.f0 * self.m.fs
        self.events = [e for e in self.events if e.end > t]
