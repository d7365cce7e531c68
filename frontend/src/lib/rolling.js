// Live view: a scrolling spectrogram stitched from the per-prediction window
// spectrograms of the stream. Each prediction's window overlaps the previous one;
// only its newest columns (about one hop) are appended.
//
// The model sees every window RMS-normalised, so two windows of one sound can differ in
// level; columns are stored at the input's own level (the window's gain_db taken off) and
// the colour range follows the loudest column on screen, so the view has no seams.

import { byteToDb } from './spectrogram.js'

const QUIET_TOP_DBFS = -40 // the colour bar's top for quiet input: silence stays dark
const MIN_RANGE_DB = 40 // a flat (silent) window's range is too narrow to draw
import { valueToIndex } from './colormap.js'

/** How many of a new window's columns are new since the previous prediction. */
export function newColumnCount(prevTime, time, frameSeconds, nFrames, hopSeconds) {
  if (prevTime == null || !Number.isFinite(prevTime)) return nFrames
  let dt = Number.isFinite(time) ? time - prevTime : NaN
  if (!(dt > 0)) dt = hopSeconds
  if (!(dt > 0)) return nFrames
  const n = Math.round(dt / frameSeconds)
  return Math.max(1, Math.min(nFrames, n))
}

export class RollingSpectrogram {
  /** @param {number} seconds how much history to keep */
  constructor(seconds = 8) {
    this.seconds = seconds
    this.reset()
  }

  reset() {
    this.columns = [] // Float32Array(nMels) of dB, oldest first
    this.nMels = 0
    this.frameSeconds = 0
    this.endTime = null // stream time (s) at the right edge
    this.lastTime = null
    this.dbMin = -80
    this.dbMax = 0
    this.melFrequencies = []
    this.freqTicks = null
  }

  get capacity() {
    return this.frameSeconds > 0 ? Math.max(1, Math.round(this.seconds / this.frameSeconds)) : 0
  }

  /** Append the new columns of a normalized window spectrogram. `time` is the stream
   *  time (s) of the window's end when the server sends it. Returns the count added. */
  push(spec, time, hopSeconds) {
    if (this.nMels && spec.nMels !== this.nMels) this.reset()
    const n = newColumnCount(this.lastTime, time, spec.frameSeconds, spec.nFrames, hopSeconds)
    this.nMels = spec.nMels
    this.frameSeconds = spec.frameSeconds
    this.melFrequencies = spec.melFrequencies
    this.freqTicks = spec.ticks?.freq ?? null
    const gain = spec.gainDb || 0
    for (let c = spec.nFrames - n; c < spec.nFrames; c++) {
      const col = new Float32Array(spec.nMels)
      for (let r = 0; r < spec.nMels; r++) {
        col[r] = byteToDb(spec.bytes[r * spec.nFrames + c], spec.dbMin, spec.dbMax) - gain
      }
      this.columns.push(col)
    }
    const cap = this.capacity
    if (this.columns.length > cap) this.columns.splice(0, this.columns.length - cap)
    // Colour range: the window's dynamic range (at least MIN_RANGE_DB), topped by the
    // loudest column on screen but never below QUIET_TOP_DBFS, so silence is drawn dark.
    let top = -Infinity
    for (const col of this.columns) for (let r = 0; r < col.length; r++) if (col[r] > top) top = col[r]
    this.dbMax = Math.max(top, QUIET_TOP_DBFS)
    this.dbMin = this.dbMax - Math.max(MIN_RANGE_DB, spec.dbMax - spec.dbMin)
    const t = Number.isFinite(time) ? time : (this.endTime ?? 0) + n * spec.frameSeconds
    this.endTime = t
    this.lastTime = Number.isFinite(time) ? time : t
    return n
  }

  /** Pixels (width = capacity, height = nMels), newest column at the right;
   *  columns without data are left transparent. */
  toRGBA(lut) {
    const w = this.capacity
    const h = this.nMels
    const px = new Uint8ClampedArray(w * h * 4)
    const offset = w - this.columns.length
    for (let i = 0; i < this.columns.length; i++) {
      const col = this.columns[i]
      const x = offset + i
      for (let r = 0; r < h; r++) {
        const k = valueToIndex(col[r], this.dbMin, this.dbMax)
        const o = ((h - 1 - r) * w + x) * 4
        px[o] = lut[k * 3]
        px[o + 1] = lut[k * 3 + 1]
        px[o + 2] = lut[k * 3 + 2]
        px[o + 3] = 255
      }
    }
    return px
  }
}
