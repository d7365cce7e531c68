import { useEffect, useMemo, useRef } from 'react'
import { MARGIN, drawSpectrogram, plotInsets } from '../lib/draw.js'
import { getLut } from '../lib/colormap.js'
import { displayRange, downsampleColumns, rangeLut, spectrogramToRGBA } from '../lib/spectrogram.js'
import { useElementWidth } from '../hooks/useElementWidth.js'

const MAX_COLUMNS = 4096

/** A normalized spectrogram (see lib/spectrogram.js) drawn with axes and a colour bar;
 *  with `time` a playhead, with `onSeek(t)` click-to-seek on the plot. */
export function SpectrogramCanvas({ spec, height = 260, label, testId = 'spectrogram-canvas', colormap = 'magma',
  dbUnit = 'dBFS', time, onSeek }) {
  const wrapRef = useRef(null)
  const canvasRef = useRef(null)
  const width = useElementWidth(wrapRef)
  const lut = getLut(colormap)

  // The colours span a fixed-floor range (displayRange), not the payload's own min..max.
  const range = useMemo(() => (spec ? displayRange(spec.dbMin, spec.dbMax) : null), [spec])
  const image = useMemo(() => {
    if (!spec || !range) return null
    const s = downsampleColumns(spec, MAX_COLUMNS)
    const codes = rangeLut(lut, spec.dbMin, spec.dbMax, range.lo, range.hi)
    return { rgba: spectrogramToRGBA(s, codes), cols: s.nFrames, rows: s.nMels }
  }, [spec, lut, range])

  useEffect(() => {
    const canvas = canvasRef.current
    if (!canvas || !spec || !image) return
    const drawn = drawSpectrogram(canvas, {
      ...image,
      t0: spec.timeOffset,
      t1: spec.timeOffset + spec.nFrames * spec.frameSeconds,
      freqTicks: spec.ticks?.freq ?? undefined,
      melFrequencies: spec.melFrequencies,
      dbMin: range.lo,
      dbMax: range.hi,
      dbUnit,
      lut,
      width,
      height,
    })
    // What was drawn, for the e2e checks (shared time ticks, the colour bar's range).
    canvas.dataset.timeTicks = drawn.time.join(',')
    canvas.dataset.dbMin = String(drawn.dbMin)
    canvas.dataset.dbMax = String(drawn.dbMax)
  }, [spec, image, range, width, height, lut, dbUnit])

  const inset = plotInsets(Math.max(120, Math.round(width)))
  const t0 = spec ? spec.timeOffset : 0
  const t1 = spec ? spec.timeOffset + spec.nFrames * spec.frameSeconds : 0
  const plotW = Math.max(1, Math.round(width) - inset.left - inset.right)
  const showHead = spec && Number.isFinite(time) && time >= t0 && time <= t1 && t1 > t0
  const seekAt = (e) => {
    if (!onSeek || !(t1 > t0)) return
    const r = e.currentTarget.getBoundingClientRect()
    const fx = (e.clientX - r.left - inset.left) / plotW
    if (fx >= 0 && fx <= 1) onSeek(t0 + fx * (t1 - t0))
  }

  return (
    <div className={`spec-wrap${onSeek ? ' seekable' : ''}`} ref={wrapRef} onClick={seekAt}>
      <canvas ref={canvasRef} role="img" aria-label={label} data-testid={testId} />
      {showHead ? (
        <span className="playhead" data-testid="spectrogram-playhead" aria-hidden="true"
          style={{ left: inset.left + ((time - t0) / (t1 - t0)) * plotW, top: MARGIN.top, height: height - MARGIN.top - MARGIN.bottom }} />
      ) : null}
    </div>
  )
}

/** The live view: a RollingSpectrogram redrawn whenever `version` changes. */
export function LiveSpectrogramCanvas({ rolling, version, height = 250, colormap = 'magma', emptyText, note }) {
  const wrapRef = useRef(null)
  const canvasRef = useRef(null)
  const width = useElementWidth(wrapRef)
  const lut = getLut(colormap)

  useEffect(() => {
    if (!canvasRef.current) return
    const has = rolling.columns.length > 0
    const end = rolling.endTime ?? rolling.seconds
    drawSpectrogram(canvasRef.current, {
      rgba: has ? rolling.toRGBA(lut) : null,
      cols: has ? rolling.capacity : 0,
      rows: rolling.nMels || 64,
      t0: end - rolling.seconds,
      t1: end,
      melFrequencies: rolling.melFrequencies,
      freqTicks: rolling.freqTicks ?? undefined,
      minTime: 0,
      emptyText,
      dbMin: rolling.dbMin,
      dbMax: rolling.dbMax,
      dbUnit: 'dBFS',
      lut,
      width,
      height,
    })
  }, [rolling, version, width, height, lut, emptyText])

  return (
    <div className="spec-wrap" ref={wrapRef}>
      <canvas
        ref={canvasRef}
        role="img"
        aria-label="Live spectrogram of the microphone (newest audio on the right)"
        data-testid="live-canvas"
        data-columns={rolling.columns.length}
      />
      {note ? <p className="muted small" data-testid="live-spec-note">{note}</p> : null}
    </div>
  )
}
