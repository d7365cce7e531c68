// Sound events of a result (the API's `events` and `verdict`): headline text, time spans.

import { humanizeLabel } from './labels.js'
import { formatPercent, sentence } from './format.js'

/** Seconds as people write them: 4 -> "4", 2.5 -> "2.5" (one decimal at most). */
export function formatTime(s) {
  if (!Number.isFinite(s)) return '–'
  const r = Math.round(s * 10) / 10
  return Number.isInteger(r) ? String(r) : r.toFixed(1)
}

/** "0–6 s" */
export function formatSpan(e) {
  return `${formatTime(e.start)}–${formatTime(e.end)} s`
}

/** A level in dBFS, with a real minus sign: "−42 dBFS". */
export function formatDbfs(db) {
  if (!Number.isFinite(db)) return '–'
  const v = Math.round(db)
  return `${v < 0 ? '−' : ''}${Math.abs(v)} dBFS`
}

/** Seconds covered by a union of [start, end] spans (nested or overlapping ones count once). */
export function coveredSeconds(spans) {
  const sorted = [...(spans ?? [])].filter((e) => e.end > e.start).sort((a, b) => a.start - b.start)
  let total = 0
  let curStart = null
  let curEnd = null
  for (const e of sorted) {
    if (curEnd == null || e.start > curEnd) {
      if (curEnd != null) total += curEnd - curStart
      curStart = e.start
      curEnd = e.end
    } else if (e.end > curEnd) curEnd = e.end
  }
  if (curEnd != null) total += curEnd - curStart
  return total
}

/** The sounds heard in a file, longest first: {items: [{label, seconds, confidence}], source}.
 *  source 'heard': the API's `heard` (confidence: its events' mean, weighted by length, the
 *  number the API's `top_prediction` gives for the first); 'events': an older API without
 *  it, totalled here from `events` (confidence: the best event's); 'none': nothing to list. */
export function heardSounds(result) {
  if (Array.isArray(result?.heard)) {
    const items = result.heard
      .filter((h) => h && h.label != null)
      .map((h) => ({ label: h.label, seconds: Number(h.seconds), confidence: Number(h.confidence ?? h.peak_confidence) }))
    return { items, source: 'heard' } // the API's order: longest first, its ties broken by confidence
  }
  const events = result?.events ?? []
  if (!events.length) return { items: [], source: 'none' }
  const byLabel = new Map()
  for (const e of events) {
    if (!byLabel.has(e.label)) byLabel.set(e.label, [])
    byLabel.get(e.label).push(e)
  }
  const items = [...byLabel].map(([label, evs]) => ({
    label,
    seconds: Math.round(coveredSeconds(evs) * 100) / 100,
    confidence: Math.max(...evs.map((e) => Number(e.confidence) || 0)),
  }))
  items.sort((a, b) => b.seconds - a.seconds || b.confidence - a.confidence)
  return { items, source: 'events' }
}

/** What the result says, for a person: {kind, title, label, detail, heard, confidence}.
 *  kind: 'silence' | 'unknown' | 'none' (sound, but nothing recognised) | 'sound' | 'sounds'
 *  (several). The title is the answer, the API's `top_prediction` (the class heard longest),
 *  as the command line and the Python API give it; `heard` lists every sound, the answer
 *  first. The windows' average (`top_k`) is not the answer: the average of a file of
 *  several sounds can rank first a sound heard in none of its events. */
export function describeResult(result, { silenceDbfs } = {}) {
  const verdict = result?.verdict ?? 'sound'
  const reason = result?.top_prediction == null ? result?.top_prediction_reason : null
  const heard = heardSounds(result)
  if (verdict === 'silence') {
    const below = Number.isFinite(silenceDbfs) ? `, below the silence threshold of ${formatDbfs(silenceDbfs)}` : ''
    return { kind: 'silence', title: 'Nothing heard', detail: `Level ${formatDbfs(result.level_dbfs)}${below}.`, heard: null }
  }
  if (verdict === 'unknown') {
    return { kind: 'unknown', title: 'Not sure', detail: 'No sound the model knows is likely enough. Its best guesses:', heard: null }
  }
  const top = result?.top_prediction ?? heard.items[0]
  if (top && heard.items.length) {
    const first = heard.items.find((h) => h.label === top.label) ?? heard.items[0]
    const confidence = Number(top.confidence ?? first.confidence)
    const several = heard.items.length > 1
    const long = (result?.windows?.length ?? 0) > 1
    const detail = several ? `Heard longest: ${formatTime(first.seconds)} s, ${formatPercent(confidence, 0)} · ${heard.items.length} sounds in all`
      : long ? `Heard ${formatTime(first.seconds)} s, ${formatPercent(confidence, 0)}` : formatPercent(confidence, 0)
    return { kind: several ? 'sounds' : 'sound', title: humanizeLabel(top.label), label: top.label, detail, heard, confidence }
  }
  // No sound listed: the API said why (top_prediction null), or an old API's single answer.
  if (result?.top_prediction === null || heard.source === 'heard') {
    return { kind: 'none', title: 'Nothing recognised', detail: sentence(reason || 'no sound was confidently heard'), heard: null }
  }
  const guess = result?.top_k?.[0]
  return { kind: 'sound', title: guess ? humanizeLabel(guess.label) : '—', label: guess?.label, detail: '', heard: null, confidence: guess?.confidence }
}

/** Events as the timeline layout wants them (its window_start / window_end fields). */
export function eventsAsSpans(events) {
  return (events ?? []).map((e) => ({ ...e, window_start: e.start, window_end: e.end }))
}

/** The event playing at time t (the shortest one when nested), or null. */
export function eventAt(events, t) {
  let best = null
  for (const e of events ?? []) {
    if (t >= e.start && t < e.end && (!best || e.end - e.start < best.end - best.start)) best = e
  }
  return best
}
