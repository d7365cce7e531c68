// Axis ticks for spectrograms: time (s), frequency (Hz on a mel axis), level (dB).
// Used when the API does not send tick arrays, and whenever the view is a slice.

const EPS = 1e-9

/** A "nice" step (1, 2 or 5 x 10^k) giving at most about `maxTicks` ticks over `span`. */
export function niceStep(span, maxTicks = 6) {
  if (!(span > 0) || !(maxTicks >= 1)) return 1
  const raw = span / maxTicks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const norm = raw / mag
  const mult = norm <= 1 + EPS ? 1 : norm <= 2 + EPS ? 2 : norm <= 5 + EPS ? 5 : 10
  return mult * mag
}

/** Decimals needed to print multiples of `step` exactly. */
export function stepDecimals(step) {
  if (!(step > 0)) return 0
  let d = 0
  while (d < 6 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6) d++
  return d
}

/** Multiples of a nice step inside [min, max]. */
export function linearTicks(min, max, maxTicks = 6) {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return []
  if (max === min) return [min]
  const step = niceStep(max - min, maxTicks)
  const d = stepDecimals(step)
  const first = Math.ceil(min / step - EPS)
  const last = Math.floor(max / step + EPS)
  const out = []
  for (let k = first; k <= last; k++) out.push(Number((k * step).toFixed(d)))
  return out
}

/** Time ticks over [start, end] seconds: {value, label}; labels share one precision. */
export function timeTicks(start, end, maxTicks = 6) {
  const values = linearTicks(start, end, maxTicks)
  if (!values.length) return []
  const d = stepDecimals(niceStep(end - start, maxTicks))
  return values.map((v) => ({ value: v, label: (Object.is(v, -0) ? 0 : v).toFixed(d) }))
}

/** dB ticks over [dbMin, dbMax]. */
export function dbTicks(dbMin, dbMax, maxTicks = 5) {
  return linearTicks(dbMin, dbMax, maxTicks).map((v) => ({ value: v, label: `${v}` }))
}

// --- mel scale (Slaney, as librosa's default htk=False) ---
const F_SP = 200 / 3
const MIN_LOG_HZ = 1000
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP // 15
const LOGSTEP = Math.log(6.4) / 27

export function hzToMel(hz) {
  return hz < MIN_LOG_HZ ? hz / F_SP : MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP
}

export function melToHz(mel) {
  return mel < MIN_LOG_MEL ? mel * F_SP : MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL))
}

/** Centre frequency (Hz) of each of `nMels` mel bands between fmin and fmax
 *  (the inner points of nMels + 2 mel-spaced edges, like a librosa filterbank). */
export function melBandCenters(nMels, fmin, fmax) {
  const lo = hzToMel(fmin)
  const hi = hzToMel(fmax)
  const out = new Array(nMels)
  for (let i = 0; i < nMels; i++) out[i] = melToHz(lo + ((hi - lo) * (i + 1)) / (nMels + 1))
  return out
}

/** Fractional row index of `hz` given the (increasing) frequency of each row, or
 *  null when outside the rows' range. */
export function hzToRow(hz, rowFrequencies) {
  const f = rowFrequencies
  const n = f.length
  if (!n) return null
  if (n === 1) return Math.abs(hz - f[0]) < EPS ? 0 : null
  if (hz < f[0] - EPS || hz > f[n - 1] + EPS) return null
  let lo = 0
  let hi = n - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (f[mid] <= hz) lo = mid
    else hi = mid
  }
  const span = f[hi] - f[lo]
  return span > 0 ? lo + (hz - f[lo]) / span : lo
}

export function formatHz(hz) {
  if (hz >= 1000) {
    const k = hz / 1000
    return `${Number.isInteger(k) ? k : Number(k.toFixed(1))}k`
  }
  return `${Math.round(hz)}`
}

/** Candidate tick frequencies: 1, 2, 5 x 10^k (all within [lo, hi]). */
function candidateFrequencies(lo, hi) {
  const out = []
  for (let e = 0; e <= 5; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v >= lo - EPS && v <= hi + EPS) out.push(v)
    }
  }
  return out
}

/** Mel-spaced frequency ticks: {value (Hz), position (fractional row), label}.
 *  Nice round frequencies, kept only when at least `minGapRows` rows apart,
 *  so they spread evenly over the mel axis (100, 500, 1k, 2k, 5k, 10k, ...). */
export function freqTicks(rowFrequencies, { minGapRows } = {}) {
  const n = rowFrequencies.length
  if (!n) return []
  const gap = minGapRows ?? Math.max(1, n / 9)
  const out = []
  for (const v of candidateFrequencies(rowFrequencies[0], rowFrequencies[n - 1])) {
    const position = hzToRow(v, rowFrequencies)
    if (position == null) continue
    if (out.length && position - out[out.length - 1].position < gap) continue
    out.push({ value: v, position, label: formatHz(v) })
  }
  return out
}

/** Drop ticks whose labels would collide: keep a tick only when it is at least
 *  `minPx` pixels from the previously kept one (`toPx` maps a tick to its pixel). */
export function thinTicks(ticks, toPx, minPx) {
  const placed = (ticks ?? [])
    .map((t) => ({ t, px: toPx(t) }))
    .filter((p) => Number.isFinite(p.px))
    .sort((a, b) => a.px - b.px)
  const out = []
  let last = -Infinity
  for (const p of placed) {
    if (p.px - last >= minPx) {
      out.push(p.t)
      last = p.px
    }
  }
  return out
}

/** Least room (CSS px) between two time ticks: a label ("120") and a gap. */
export const TIME_TICK_MIN_PX = 60

/** THE time ticks of a plot `plotWidth` px wide showing [t0, t1] s: one nice step (1, 2, 5 x
 *  10^k s) at least `minPx` apart on screen. The spectrogram, the events track and the
 *  windows timeline all draw these, so their ticks are at the same times. `minTime`: none
 *  before it (the live view starts at 0). */
export function axisTimeTicks(t0, t1, plotWidth, { minPx = TIME_TICK_MIN_PX, minTime = -Infinity } = {}) {
  if (!Number.isFinite(t0) || !Number.isFinite(t1) || !(t1 > t0)) return []
  const maxTicks = Math.max(1, Math.floor((Number(plotWidth) || 0) / minPx))
  const lo = Math.max(t0, minTime)
  return timeTicks(t0, t1, maxTicks).filter((t) => t.value >= lo - EPS)
}
