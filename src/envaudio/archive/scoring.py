"""Sound event detection scores, as DCASE computes them: event-based (onset collar, offset
collar or a share of the event's length) and segment-based (1-s segments), per class and
overall, F1 / precision / recall and error rate.

The definitions are sed_eval's (0.2.1: `EventBasedMetrics`, `SegmentBasedMetrics`, the
DCASE tooling), reproduced here in numpy alone so that `envaudio evaluate-events` runs in
the lean install: sed_eval pulls in dcase_util, which imports pkg_resources (gone from
setuptools 81) and, through librosa and matplotlib, some 600 MB. The tests score the same
files with both and require the same figures to 1e-6 (sed_eval comes with
`envaudio[eval]`; `--backend sed_eval` uses it directly). Everything sed_eval does is
kept, down to the order it finds substitutions in, because the error rate depends on it:
events are matched one to one by a maximum bipartite matching (Hopcroft-Karp, the very
search sed_eval borrows from mir_eval), then the reference events left over take, in
order, the first left-over estimated event within the collars as a substitution.

An event is a dict with `onset`, `offset` (seconds) and `event_label`. Scores are counted
file by file and summed (micro averages); the class-wise average is the mean over classes
of their figures, NaN ones (a class never annotated nor detected) left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

EPS = float(np.spacing(1))  # sed_eval's guard against dividing by zero in the rates


# --- the matching sed_eval uses (mir_eval's _bipartite_match, after D. Eppstein's PADS) ---

def bipartite_match(graph: dict) -> dict:
    """A maximum matching of a bipartite graph {left: [right, ...]} as {right: left}: the
    same search, in the same order, as sed_eval's, so the same events end up matched."""
    matching: dict = {}
    for u in graph:
        for v in graph[u]:
            if v not in matching:
                matching[v] = u
                break
    while True:
        preds: dict = {}
        unmatched: list = []
        pred = {u: unmatched for u in graph}
        for v in matching:
            del pred[matching[v]]
        layer = list(pred)
        while layer and not unmatched:
            new_layer: dict = {}
            for u in layer:
                for v in graph[u]:
                    if v not in preds:
                        new_layer.setdefault(v, []).append(u)
            layer = []
            for v in new_layer:
                preds[v] = new_layer[v]
                if v in matching:
                    layer.append(matching[v])
                    pred[matching[v]] = v
                else:
                    unmatched.append(v)
        if not unmatched:
            return matching

        def recurse(v) -> bool:
            if v in preds:
                us = preds.pop(v)
                for u in us:
                    if u in pred:
                        pu = pred.pop(u)
                        if pu is unmatched or recurse(pu):
                            matching[v] = u
                            return True
            return False

        for v in unmatched:
            recurse(v)


# --- the figures from counts (sed_eval.metric) --------------------------------------------

def _precision(tp: float, sys: float) -> float:
    return math.nan if sys == 0 else float(tp / float(sys))


def _recall(tp: float, ref: float) -> float:
    return math.nan if ref == 0 else float(tp / float(ref))


def _f(p: float, r: float) -> float:
    if p == 0 and r == 0:
        return 0.0
    return float(2 * p * r / (p + r))


def _rate(n: float, ref: float) -> float:
    return float(n / (ref + EPS))


@dataclass
class Counts:
    ref: float = 0.0
    sys: float = 0.0
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    subs: float = 0.0  # overall only: substitutions
    dels: float = 0.0  # segment-based overall: deletions and insertions per segment
    ins: float = 0.0

    def figures(self, overall: bool, segment: bool) -> dict:
        p, r = _precision(self.tp, self.sys), _recall(self.tp, self.ref)
        if overall:
            s, d, i = (self.subs, self.dels, self.ins) if segment else (self.subs, self.fn, self.fp)
            rates = {"substitution_rate": _rate(s, self.ref)}
        else:  # class-wise: no substitutions
            d, i = self.fn, self.fp
            rates = {}
        rates.update(deletion_rate=_rate(d, self.ref), insertion_rate=_rate(i, self.ref))
        return {"f_measure": _f(p, r), "precision": p, "recall": r,
                "error_rate": float(sum(rates.values())), **rates,
                "Nref": self.ref, "Nsys": self.sys, "Ntp": self.tp, "Nfp": self.fp, "Nfn": self.fn}


@dataclass
class Scores:
    """Counts summed over files, per class and overall; `results()` gives the figures."""

    kind: str  # "event" or "segment"
    labels: list[str]
    params: dict
    overall: Counts = field(default_factory=Counts)
    class_wise: dict = field(default_factory=dict)
    files: int = 0

    def __post_init__(self):
        self.class_wise = {label: Counts() for label in self.labels}

    def results(self) -> dict:
        seg = self.kind == "segment"
        classes = {label: c.figures(False, seg) for label, c in self.class_wise.items()}
        avg = {}
        for k in ("f_measure", "precision", "recall", "error_rate", "deletion_rate", "insertion_rate"):
            vals = [v[k] for v in classes.values()]
            avg[k] = float(np.nanmean(vals)) if vals and not all(math.isnan(x) for x in vals) else math.nan
        return {"kind": self.kind, "params": self.params, "files": self.files,
                "overall": self.overall.figures(True, seg), "class_wise_average": avg, "class_wise": classes}


# --- event-based ----------------------------------------------------------------------------

def _onset_ok(ref: dict, est: dict, collar: float) -> bool:
    return math.fabs(ref["onset"] - est["onset"]) <= collar


def _offset_ok(ref: dict, est: dict, collar: float, share: float) -> bool:
    length = ref["offset"] - ref["onset"]
    return math.fabs(ref["offset"] - est["offset"]) <= max(collar, share * length)


class EventBased:
    """sed_eval.sound_event.EventBasedMetrics with optimal matching."""

    def __init__(self, labels: list[str], collar: float = 0.2, offset_share: float = 0.5,
                 onset: bool = True, offset: bool = True):
        if not onset and not offset:
            raise ValueError("evaluate the onset, the offset or both")
        self.collar, self.share, self.onset, self.offset = float(collar), float(offset_share), onset, offset
        self.scores = Scores("event", list(labels), {"t_collar": self.collar, "percentage_of_length": self.share,
                                                     "evaluate_onset": onset, "evaluate_offset": offset})

    def _hit(self, ref: dict, est: dict) -> bool:
        return ((not self.onset or _onset_ok(ref, est, self.collar))
                and (not self.offset or _offset_ok(ref, est, self.collar, self.share)))

    def _matched(self, ref: list[dict], est: list[dict], same_label: bool) -> list[tuple[int, int]]:
        graph: dict = {}
        for j, r in enumerate(ref):  # sed_eval's numpy.where order: reference-major
            for i, e in enumerate(est):
                if (not same_label or r["event_label"] == e["event_label"]) and self._hit(r, e):
                    graph.setdefault(i, []).append(j)
        return sorted(bipartite_match(graph).items())

    def evaluate(self, ref: list[dict], est: list[dict]) -> None:
        """Add one file's reference and estimated events."""
        s = self.scores
        s.files += 1
        matching = self._matched(ref, est, True)
        ref_ok = np.zeros(len(ref), bool)
        sys_ok = np.zeros(len(est), bool)
        for j, i in matching:
            ref_ok[j] = sys_ok[i] = True
        tp = len(matching)
        subs, counted = 0, np.zeros(len(est), bool)
        left_sys = np.flatnonzero(~sys_ok)
        for j in np.flatnonzero(~ref_ok):
            for i in left_sys:
                if not counted[i] and self._hit(ref[j], est[i]):
                    counted[i] = True
                    subs += 1
                    break
        o = s.overall
        o.ref += len(ref)
        o.sys += len(est)
        o.tp += tp
        o.subs += subs
        o.fp += len(est) - tp - subs
        o.fn += len(ref) - tp - subs
        for label, c in s.class_wise.items():
            r = [e for e in ref if e["event_label"] == label]
            e = [x for x in est if x["event_label"] == label]
            n = len(self._matched(r, e, False))
            c.ref += len(r)
            c.sys += len(e)
            c.tp += n
            c.fp += len(e) - n
            c.fn += len(r) - n


# --- segment-based --------------------------------------------------------------------------

def event_roll(events: list[dict], labels: list[str], resolution: float) -> np.ndarray:
    """(segments, classes) 0/1: sed_eval's event_list_to_event_roll."""
    end = max((e["offset"] for e in events), default=0.0)
    roll = np.zeros((int(math.ceil(end * 1 / resolution)), len(labels)))
    for e in events:
        a = int(math.floor(e["onset"] * 1 / float(resolution)))
        b = int(math.ceil(e["offset"] * 1 / float(resolution)))
        roll[a:b, labels.index(e["event_label"])] = 1
    return roll


def _fit(roll: np.ndarray, n: int) -> np.ndarray:
    if n <= len(roll):
        return roll[:n]
    return np.vstack([roll, np.zeros((n - len(roll), roll.shape[1]))])


class SegmentBased:
    """sed_eval.sound_event.SegmentBasedMetrics."""

    def __init__(self, labels: list[str], resolution: float = 1.0):
        self.resolution = float(resolution)
        self.scores = Scores("segment", list(labels), {"time_resolution": self.resolution})

    def evaluate(self, ref: list[dict], est: list[dict], length: float | None = None) -> None:
        """Add one file; `length`: seconds evaluated (default: the last offset of either)."""
        s, labels = self.scores, self.scores.labels
        s.files += 1
        if length is None:
            length = max([e["offset"] for e in ref + est] or [0.0])
        n = int(math.ceil(length * 1 / float(self.resolution)))
        a, b = _fit(event_roll(ref, labels, self.resolution), n), _fit(event_roll(est, labels, self.resolution), n)
        tp_seg = ((a + b) > 1).sum(axis=1)
        nref, nsys = a.sum(axis=1), b.sum(axis=1)
        o = s.overall
        o.tp += float(tp_seg.sum())
        o.fp += float(((b - a) > 0).sum())
        o.fn += float(((a - b) > 0).sum())
        o.ref += float(nref.sum())
        o.sys += float(nsys.sum())
        o.subs += float((np.minimum(nref, nsys) - tp_seg).sum())
        o.dels += float(np.maximum(0, nref - nsys).sum())
        o.ins += float(np.maximum(0, nsys - nref).sum())
        for k, label in enumerate(labels):
            c = s.class_wise[label]
            c.tp += float(((a[:, k] + b[:, k]) > 1).sum())
            c.fp += float(((b[:, k] - a[:, k]) > 0).sum())
            c.fn += float(((a[:, k] - b[:, k]) > 0).sum())
            c.ref += float(a[:, k].sum())
            c.sys += float(b[:, k].sum())


# --- both, over files -------------------------------------------------------------------------

def score(pairs, labels: list[str], collar: float = 0.2, offset_share: float = 0.5,
          segment: float = 1.0) -> dict:
    """pairs: (reference events, estimated events) per file -> {"event": results,
    "segment": results} (see Scores.results)."""
    ev, seg = EventBased(labels, collar, offset_share), SegmentBased(labels, segment)
    for ref, est in pairs:
        ev.evaluate(ref, est)
        seg.evaluate(ref, est)
    return {"event": ev.scores.results(), "segment": seg.scores.results()}


def score_with_sed_eval(pairs, labels: list[str], collar: float = 0.2, offset_share: float = 0.5,
                        segment: float = 1.0) -> dict:
    """The same figures from sed_eval itself (`envaudio[eval]`), in the same shape."""
    import sed_eval

    ev = sed_eval.sound_event.EventBasedMetrics(list(labels), t_collar=float(collar),
                                                percentage_of_length=float(offset_share))
    seg = sed_eval.sound_event.SegmentBasedMetrics(list(labels), time_resolution=float(segment))
    n = 0
    for k, (ref, est) in enumerate(pairs):
        name = f"file{k}"
        r = [{**e, "filename": name} for e in ref]
        x = [{**e, "filename": name} for e in est]
        ev.evaluate(r, x)
        seg.evaluate(r, x)
        n += 1
    out = {}
    for kind, m, params in (("event", ev, {"t_collar": float(collar), "percentage_of_length": float(offset_share),
                                           "evaluate_onset": True, "evaluate_offset": True}),
                            ("segment", seg, {"time_resolution": float(segment)})):
        o, cw, avg = m.results_overall_metrics(), m.results_class_wise_metrics(), \
            m.results_class_wise_average_metrics()
        out[kind] = {"kind": kind, "params": params, "files": n,
                     "overall": _flatten(o, m.overall, kind == "segment", True),
                     "class_wise_average": {**avg["f_measure"], **avg["error_rate"]},
                     "class_wise": {label: _flatten(cw[label], m.class_wise[label], kind == "segment", False)
                                    for label in labels}}
    return out


def _flatten(res: dict, counts: dict, segment: bool, overall: bool) -> dict:
    out = {**res["f_measure"], **res["error_rate"]}
    out.update(Nref=float(counts["Nref"]), Nsys=float(counts["Nsys"]), Ntp=float(counts["Ntp"]),
               Nfp=float(counts["Nfp"]), Nfn=float(counts["Nfn"]))
    return out
