// Per-window predictions of a long file laid out on a time line.

/** Assign each window a lane so that overlapping windows never share one
 *  (greedy interval partitioning: the lowest lane that is free again).
 *  Returns items in time order: {index, start, end, lane, x, width} where x and
 *  width are in the units of `totalWidth` (e.g. 100 for CSS percentages). */
export function layoutTimeline(windows, duration, totalWidth = 100, { minWidth = 0 } = {}) {
  if (!Array.isArray(windows) || windows.length === 0) return { items: [], lanes: 0 }
  const maxEnd = Math.max(...windows.map((w) => Number(w.window_end) || 0))
  const span = duration > 0 ? Math.max(duration, maxEnd) : maxEnd
  if (!(span > 0)) return { items: [], lanes: 0 }
  const order = windows
    .map((w, index) => ({ w, index, start: Number(w.window_start) || 0, end: Number(w.window_end) || 0 }))
    .sort((a, b) => a.start - b.start || a.end - b.end)
  const laneEnds = []
  const items = order.map(({ w, index, start, end }) => {
    let lane = laneEnds.findIndex((e) => e <= start + 1e-6)
    if (lane === -1) {
      lane = laneEnds.length
      laneEnds.push(end)
    } else {
      laneEnds[lane] = end
    }
    const x = (start / span) * totalWidth
    const width = Math.max(minWidth, ((end - start) / span) * totalWidth)
    return { index, start, end, lane, x, width: Math.min(width, totalWidth - x), window: w }
  })
  return { items, lanes: laneEnds.length }
}

/** Classes that occur as a window's label, in order of first appearance. */
export function legendClasses(windows) {
  const seen = []
  for (const w of windows ?? []) if (w && !seen.includes(w.label)) seen.push(w.label)
  return seen
}

/** Next selection for a key press in the timeline (time order), or null. */
export function nextIndexForKey(key, current, count) {
  if (count <= 0) return null
  switch (key) {
    case 'ArrowRight':
    case 'ArrowDown':
      return current == null ? 0 : Math.min(count - 1, current + 1)
    case 'ArrowLeft':
    case 'ArrowUp':
      return current == null ? 0 : Math.max(0, current - 1)
    case 'Home':
      return 0
    case 'End':
      return count - 1
    default:
      return null
  }
}

/** What a window may be coloured as: 'silence' (the file is silent: no class was heard),
 *  'unsure' (its best class is below the model's unknown threshold) or 'sound'. Only
 *  'sound' windows get a class colour and a legend entry. */
export function windowKind(w, { verdict, unknownThreshold } = {}) {
  if (verdict === 'silence') return 'silence'
  if (w?.verdict === 'silence' || w?.verdict === 'unknown') return w.verdict === 'silence' ? 'silence' : 'unsure'
  if (unknownThreshold > 0 && Number(w?.confidence) < unknownThreshold) return 'unsure'
  return 'sound'
}

/** Legend entries of a timeline: the classes of its 'sound' windows (first appearance
 *  first), and whether any window is drawn neutral (silent or unsure). */
export function timelineLegend(windows, opts = {}) {
  const sounds = (windows ?? []).filter((w) => w && windowKind(w, opts) === 'sound')
  return { classes: legendClasses(sounds), neutral: sounds.length < (windows ?? []).filter(Boolean).length }
}

/** The rows of a compact (phone) timeline: one per state in `keys` (each window's class, or
 *  'unsure' / 'silence'), classes in order of first appearance, then 'unsure', then
 *  'silence'. Returns {rows: [key], rowOf: Map key -> row index}. */
export function stateRows(keys) {
  const seen = []
  for (const k of keys ?? []) if (k != null && !seen.includes(k)) seen.push(k)
  const rank = (k) => (k === 'silence' ? 2 : k === 'unsure' ? 1 : 0)
  const rows = seen.map((k, i) => [k, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([k]) => k)
  return { rows, rowOf: new Map(rows.map((k, i) => [k, i])) }
}
