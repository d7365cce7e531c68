// Sound events of a result (the API's `events` and `verdict`): headline text, time spans.

import { humanizeLabel } from './labels.js'

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

/** What the result says, for a person: {kind, title, detail}.
 *  kind: 'silence' | 'unknown' | 'sound' | 'sounds' (several events). */
export function describeResult(result, { silenceDbfs } = {}) {
  const verdict = result?.verdict ?? 'sound'
  if (verdict === 'silence') {
    const below = Number.isFinite(silenceDbfs) ? `, below the silence threshold of ${formatDbfs(silenceDbfs)}` : ''
    return { kind: 'silence', title: 'Nothing heard', detail: `Level ${formatDbfs(result.level_dbfs)}${below}.` }
  }
  if (verdict === 'unknown') {
    return { kind: 'unknown', title: 'Not sure', detail: 'No sound the model knows is likely enough. Its best guesses:' }
  }
  const events = result?.events ?? []
  if (events.length <= 1) {
    const top = events[0] ?? result?.top_prediction ?? result?.top_k?.[0]
    const span = events[0] && result?.windows?.length > 1 ? ` · ${formatSpan(events[0])}` : ''
    return { kind: 'sound', title: top ? humanizeLabel(top.label) : '—', detail: span, confidence: top?.confidence }
  }
  const parts = events.map((e) => `${humanizeLabel(e.label).toLowerCase()} ${formatSpan(e)}`)
  return { kind: 'sounds', title: `${events.length} sounds`, detail: parts.join(', ') }
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
