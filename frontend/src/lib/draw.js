// Canvas rendering of a spectrogram with time axis (s), mel frequency axis (Hz) and a
// dB colour bar. Pure data preparation lives in spectrogram.js / ticks.js.

import { axisTimeTicks, dbTicks as makeDbTicks, freqTicks as makeFreqTicks, thinTicks } from './ticks.js'
import { lutColor } from './colormap.js'

export const THEME = {
  plotBg: '#0a0c12',
  frame: 'rgba(255,255,255,0.14)',
  tick: 'rgba(255,255,255,0.35)',
  text: '#a9b0c2',
  title: '#9aa2b6',
  font: '12px Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  smallFont: '11px Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
}

export const MARGIN = { left: 46, right: 62, top: 20, bottom: 40 }
const COMPACT_WIDTH = 420
const COMPACT_RIGHT = 50

/** The plot's left and right insets (CSS px) in a canvas `width` px wide: what the
 *  timeline and the playhead use to share the spectrogram's time axis. */
export function plotInsets(width) {
  return { left: MARGIN.left, right: width < COMPACT_WIDTH ? COMPACT_RIGHT : MARGIN.right }
}

/** Keep labels whose boxes ([x, x + w]) do not overlap the last kept one (after clamping
 *  to the plot, where the last label is pushed left). */
export function placeLabels(boxes, gap = 6) {
  const out = []
  let end = -Infinity
  for (const b of boxes) {
    if (b.x >= end + gap) {
      out.push(b)
      end = b.x + b.w
    }
  }
  return out
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {object} o
 *   rgba, cols, rows: the image (row 0 of the data already flipped to the bottom)
 *   t0, t1: seconds at the left and right edge (time ticks: ticks.js axisTimeTicks)
 *   melFrequencies: Hz per row; freqTicks?: [{value, position, label}]
 *   dbMin, dbMax, dbTicks?, dbUnit? (the colour bar's title, default "dB"); lut; width, height (CSS px)
 *   minTime?: no time ticks before this (live view: the stream starts at 0)
 *   emptyText?: drawn in the plot when there is no image
 * @returns {{time: number[], dbMin: number, dbMax: number}} the time ticks drawn (s), the colour bar's range
 */
export function drawSpectrogram(canvas, o) {
  const dpr = Math.min(3, globalThis.devicePixelRatio || 1)
  const W = Math.max(120, Math.round(o.width))
  const H = Math.max(80, Math.round(o.height))
  if (canvas.width !== W * dpr || canvas.height !== H * dpr) {
    canvas.width = W * dpr
    canvas.height = H * dpr
  }
  canvas.style.width = `${W}px`
  canvas.style.height = `${H}px`
  const ctx = canvas.getContext('2d')
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  ctx.clearRect(0, 0, W, H)
  const drawn = { time: [], dbMin: o.dbMin, dbMax: o.dbMax }

  const compact = W < COMPACT_WIDTH
  const m = { ...MARGIN, ...plotInsets(W) }
  const px = m.left
  const py = m.top
  const pw = W - m.left - m.right
  const ph = H - m.top - m.bottom

  ctx.fillStyle = THEME.plotBg
  ctx.fillRect(px, py, pw, ph)

  if (o.rgba && o.cols > 0 && o.rows > 0) {
    const off = document.createElement('canvas')
    off.width = o.cols
    off.height = o.rows
    off.getContext('2d').putImageData(new ImageData(o.rgba, o.cols, o.rows), 0, 0)
    ctx.imageSmoothingEnabled = true
    ctx.imageSmoothingQuality = 'high'
    ctx.drawImage(off, 0, 0, o.cols, o.rows, px, py, pw, ph)
  } else if (o.emptyText) {
    ctx.fillStyle = THEME.title
    ctx.font = THEME.font
    ctx.textAlign = 'center'
    ctx.textBaseline = 'middle'
    ctx.fillText(o.emptyText, px + pw / 2, py + ph / 2)
  }

  ctx.strokeStyle = THEME.frame
  ctx.lineWidth = 1
  ctx.strokeRect(px - 0.5, py - 0.5, pw + 1, ph + 1)

  ctx.font = THEME.smallFont
  ctx.fillStyle = THEME.text
  ctx.strokeStyle = THEME.tick

  // time axis
  const span = o.t1 - o.t0
  if (span > 0) {
    const tx = (v) => px + ((v - o.t0) / span) * pw
    // The shared ticks (ticks.js axisTimeTicks), also under the events track and the
    // windows timeline: at least TIME_TICK_MIN_PX apart, so none is dropped for room.
    const ticks = axisTimeTicks(o.t0, o.t1, pw, { minTime: o.minTime })
    ctx.textBaseline = 'top'
    const boxes = ticks.map((t) => {
      const x = Math.round(tx(t.value)) + 0.5
      const w = ctx.measureText(t.label).width
      return { t, x: Math.min(Math.max(x - w / 2, px - 4), px + pw + 4 - w), w, tick: x }
    })
    // the last tick's label is pushed left at the plot's edge: drop whichever would touch
    const placed = placeLabels(boxes)
    drawn.time = placed.map((b) => b.t.value)
    for (const b of placed) {
      ctx.beginPath()
      ctx.moveTo(b.tick, py + ph)
      ctx.lineTo(b.tick, py + ph + 4)
      ctx.stroke()
      ctx.textAlign = 'left'
      ctx.fillText(b.t.label, b.x, py + ph + 7)
    }
    ctx.fillStyle = THEME.title
    ctx.font = THEME.font
    ctx.textAlign = 'center'
    ctx.fillText('Time (s)', px + pw / 2, py + ph + 23)
  }

  // frequency axis (mel rows)
  ctx.font = THEME.smallFont
  ctx.fillStyle = THEME.text
  const rows = o.rows
  const ry = (pos) => py + ph - ((pos + 0.5) / rows) * ph
  const fticks = thinTicks(o.freqTicks ?? makeFreqTicks(o.melFrequencies ?? []), (t) => -ry(t.position), 15)
  ctx.textAlign = 'right'
  ctx.textBaseline = 'middle'
  for (const t of fticks) {
    const y = Math.round(ry(t.position)) + 0.5
    if (y < py - 1 || y > py + ph + 1) continue
    ctx.beginPath()
    ctx.moveTo(px - 4, y)
    ctx.lineTo(px, y)
    ctx.stroke()
    ctx.fillText(t.label, px - 7, Math.min(Math.max(y, py + 5), py + ph - 5))
  }
  ctx.fillStyle = THEME.title
  ctx.font = THEME.font
  ctx.textBaseline = 'bottom'
  ctx.fillText('Hz', px - 7, py - 5)

  // colour bar
  const bx = px + pw + (compact ? 8 : 12)
  const bw = 10
  if (o.lut) {
    for (let i = 0; i < ph; i++) {
      ctx.fillStyle = lutColor(o.lut, (1 - i / Math.max(1, ph - 1)) * 255)
      ctx.fillRect(bx, py + i, bw, 1.2)
    }
  }
  ctx.strokeStyle = THEME.frame
  ctx.strokeRect(bx - 0.5, py - 0.5, bw + 1, ph + 1)
  if (o.dbMax > o.dbMin) {
    const by = (v) => py + ph - ((v - o.dbMin) / (o.dbMax - o.dbMin)) * ph
    const dticks = thinTicks(o.dbTicks ?? makeDbTicks(o.dbMin, o.dbMax), (t) => -by(t.value), 16)
    ctx.font = THEME.smallFont
    ctx.fillStyle = THEME.text
    ctx.textAlign = 'left'
    ctx.textBaseline = 'middle'
    ctx.strokeStyle = THEME.tick
    for (const t of dticks) {
      if (t.value < o.dbMin - 1e-6 || t.value > o.dbMax + 1e-6) continue
      const y = Math.round(by(t.value)) + 0.5
      ctx.beginPath()
      ctx.moveTo(bx + bw, y)
      ctx.lineTo(bx + bw + 3, y)
      ctx.stroke()
      ctx.fillText(t.label, bx + bw + 5, Math.min(Math.max(y, py + 5), py + ph - 5))
    }
  }
  ctx.fillStyle = THEME.title
  ctx.font = THEME.font
  ctx.textAlign = 'left'
  ctx.textBaseline = 'bottom'
  ctx.fillText(o.dbUnit ?? 'dB', bx - 1, py - 5)
  return drawn
}
