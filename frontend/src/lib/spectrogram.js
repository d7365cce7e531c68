// Spectrogram payloads from the API -> typed arrays -> pixels.
//
// SPEC = {encoding: "uint8-base64", data, shape: [n_mels, n_frames], db_min, db_max,
//         frame_seconds, mel_frequencies, time_ticks, freq_ticks, db_ticks,
//         gain_db (streaming only), ...}
// Row 0 of `data` is the LOWEST mel band; it is drawn at the bottom.

import { melBandCenters } from './ticks.js'

/** base64 -> Uint8Array (browser atob; also works in Node >= 16). */
export function base64ToBytes(b64) {
  const bin = atob(String(b64).replace(/\s+/g, ''))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** uint8 code -> dB (0 -> dbMin, 255 -> dbMax, linear). */
export function byteToDb(v, dbMin, dbMax) {
  return dbMin + (v / 255) * (dbMax - dbMin)
}

/** Accept SPEC or {spectrogram: SPEC}; decode it into
 *  {nMels, nFrames, bytes (Uint8Array, row-major), dbMin, dbMax, frameSeconds, gainDb,
 *   timeOffset, duration, melFrequencies, ticks: {time, freq, db} | null, raw}. */
export function normalizeSpectrogram(payload) {
  const spec = payload && payload.spectrogram && !payload.data ? payload.spectrogram : payload
  if (!spec || typeof spec !== 'object') throw new Error('No spectrogram in the response')
  const encoding = spec.encoding ?? 'uint8-base64'
  if (encoding !== 'uint8-base64') throw new Error(`Unsupported spectrogram encoding ${encoding}`)
  const [nMels, nFrames] = spec.shape ?? []
  if (!(nMels > 0) || !(nFrames > 0)) throw new Error('Spectrogram has an empty shape')
  const bytes = spec.data instanceof Uint8Array ? spec.data : base64ToBytes(spec.data ?? '')
  if (bytes.length !== nMels * nFrames) {
    throw new Error(`Spectrogram data has ${bytes.length} values, expected ${nMels}x${nFrames}`)
  }
  const sampleRate = Number(spec.sample_rate) || 22050
  const frameSeconds = Number(spec.frame_seconds) ||
    (spec.hop_length ? spec.hop_length / sampleRate : 512 / sampleRate)
  const dbMin = Number.isFinite(spec.db_min) ? spec.db_min : -80
  const dbMax = Number.isFinite(spec.db_max) ? spec.db_max : 0
  const fmin = Number(spec.fmin) || 0
  const fmax = Number(spec.fmax) || sampleRate / 2
  const melFrequencies = Array.isArray(spec.mel_frequencies) && spec.mel_frequencies.length === nMels
    ? spec.mel_frequencies.map(Number)
    : melBandCenters(nMels, fmin, fmax)
  const hasTicks = Array.isArray(spec.time_ticks) && Array.isArray(spec.freq_ticks)
  return {
    nMels,
    nFrames,
    bytes,
    dbMin,
    dbMax,
    frameSeconds,
    // Streaming: the level change the server's RMS normalisation applied to this window.
    gainDb: Number.isFinite(spec.gain_db) ? spec.gain_db : 0,
    timeOffset: Number(spec.time_offset) || 0,
    duration: Number(spec.duration) || nFrames * frameSeconds,
    sampleRate,
    fmin,
    fmax,
    melFrequencies,
    ticks: hasTicks
      ? { time: spec.time_ticks, freq: spec.freq_ticks, db: Array.isArray(spec.db_ticks) ? spec.db_ticks : null }
      : null,
  }
}

/** Column range [c0, c1) covering [start, end] seconds (relative to the spectrogram start). */
export function columnRange(spec, start, end) {
  const fs = spec.frameSeconds
  const rel0 = start - spec.timeOffset
  const rel1 = end - spec.timeOffset
  let c0 = Math.floor(rel0 / fs + 1e-6)
  let c1 = Math.ceil(rel1 / fs - 1e-6)
  c0 = Math.max(0, Math.min(spec.nFrames - 1, c0))
  c1 = Math.max(c0 + 1, Math.min(spec.nFrames, c1))
  return [c0, c1]
}

/** The columns of one window [start, end] s as a new spectrogram (its own time offset,
 *  server ticks dropped so the axis is recomputed for the slice). */
export function sliceSpectrogram(spec, start, end) {
  const [c0, c1] = columnRange(spec, start, end)
  const width = c1 - c0
  const bytes = new Uint8Array(spec.nMels * width)
  for (let r = 0; r < spec.nMels; r++) {
    bytes.set(spec.bytes.subarray(r * spec.nFrames + c0, r * spec.nFrames + c1), r * width)
  }
  return {
    ...spec,
    nFrames: width,
    bytes,
    timeOffset: spec.timeOffset + c0 * spec.frameSeconds,
    duration: width * spec.frameSeconds,
    ticks: spec.ticks ? { ...spec.ticks, time: null } : null,
  }
}

/** Reduce to at most `maxColumns` columns by max-pooling groups of columns
 *  (keeps short loud events visible). Returns the same object when small enough. */
export function downsampleColumns(spec, maxColumns) {
  if (spec.nFrames <= maxColumns) return spec
  const factor = Math.ceil(spec.nFrames / maxColumns)
  const width = Math.ceil(spec.nFrames / factor)
  const bytes = new Uint8Array(spec.nMels * width)
  for (let r = 0; r < spec.nMels; r++) {
    const row = r * spec.nFrames
    for (let x = 0; x < width; x++) {
      let m = 0
      const end = Math.min(spec.nFrames, (x + 1) * factor)
      for (let c = x * factor; c < end; c++) if (spec.bytes[row + c] > m) m = spec.bytes[row + c]
      bytes[r * width + x] = m
    }
  }
  return { ...spec, nFrames: width, bytes, frameSeconds: spec.frameSeconds * factor }
}

/** RGBA pixels (width = nFrames, height = nMels) with row 0 at the bottom. */
export function spectrogramToRGBA(spec, lut) {
  const { nMels: h, nFrames: w, bytes } = spec
  const px = new Uint8ClampedArray(w * h * 4)
  for (let r = 0; r < h; r++) {
    const y = h - 1 - r
    for (let c = 0; c < w; c++) {
      const v = bytes[r * w + c]
      const o = (y * w + c) * 4
      px[o] = lut[v * 3]
      px[o + 1] = lut[v * 3 + 1]
      px[o + 2] = lut[v * 3 + 2]
      px[o + 3] = 255
    }
  }
  return px
}

const NETWORK_NAMES = { yamnet: 'YAMNet', cnn: 'CNN' }
const kHz = (hz) => `${+(hz / 1000).toFixed(2)} kHz`

/** Which front end the drawn spectrogram is, from /config: a model may combine members that
 *  hear the audio through different front ends, and the app shows only one of them. */
export function spectrogramNote(config) {
  const rate = config?.spectrogram_sample_rate || config?.sample_rate // the view's own rate (older servers: none)
  if (!config || !config.n_mels || !rate) return ''
  const view = `${config.n_mels}-band log-mel at ${kHz(rate)}`
  const others = [...new Set((config.members ?? [])
    .filter((m) => m.network !== 'cnn')
    .map((m) => `the ${NETWORK_NAMES[m.network] ?? m.network} members (${kHz(m.sample_rate)})`))]
  const rest = others.length
    ? `; ${others.join(' and ')} hear their own front end${others.length > 1 ? 's' : ''}` : ''
  if (config.spectrogram_source === 'cnn') return `${view}, what the CNN members hear${rest}`
  return `${view}, for display${others.length ? rest : ''}`
}

// The colour scale of a file's spectrogram (dBFS). The server's range runs from the
// quietest to the loudest value, at least 40 dB: 5 s of dither (-125 .. -90 dBFS) would
// fill the whole colour map and look busy. The drawn range instead tops at QUIET_TOP_DBFS
// at least, bottoms at FLOOR_DBFS at most (quieter is black), and spans MIN_RANGE_DB at
// least: silence looks silent, a real recording keeps its own range.
export const QUIET_TOP_DBFS = -40 // as the live view (rolling.js)
export const FLOOR_DBFS = -100
export const MIN_RANGE_DB = 60

/** The range {lo, hi} (dB) the colours span, for a spectrogram whose values are in [dbMin, dbMax]. */
export function displayRange(dbMin, dbMax) {
  if (!Number.isFinite(dbMin) || !Number.isFinite(dbMax) || !(dbMax > dbMin)) return { lo: -100, hi: -40 }
  const hi = Math.max(dbMax, QUIET_TOP_DBFS)
  const lo = Math.min(Math.max(dbMin, FLOOR_DBFS), hi - MIN_RANGE_DB)
  return { lo, hi }
}

/** A LUT indexed by the payload's uint8 codes (0 = dbMin, 255 = dbMax) giving the colour of
 *  that level on the scale [lo, hi]: the bytes are drawn without being rewritten. */
export function rangeLut(lut, dbMin, dbMax, lo, hi) {
  const out = new Uint8Array(256 * 3)
  for (let v = 0; v < 256; v++) {
    const db = byteToDb(v, dbMin, dbMax)
    const k = Math.max(0, Math.min(255, Math.round(((db - lo) / (hi - lo)) * 255)))
    out[v * 3] = lut[k * 3]
    out[v * 3 + 1] = lut[k * 3 + 1]
    out[v * 3 + 2] = lut[k * 3 + 2]
  }
  return out
}
