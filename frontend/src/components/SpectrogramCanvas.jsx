import { useEffect, useMemo, useRef } from 'react'
import { drawSpectrogram } from '../lib/draw.js'
import { getLut } from '../lib/colormap.js'
import { downsampleColumns, spectrogramToRGBA } from '../lib/spectrogram.js'
import { useElementWidth } from '../hooks/useElementWidth.js'

const MAX_COLUMNS = 4096

/** A normalized spectrogram (see lib/spectrogram.js) drawn with axes and a colour bar. */
export function SpectrogramCanvas({ spec, height = 260, label, testId = 'spectrogram-canvas', colormap = 'magma' }) {
  const wrapRef = useRef(null)
  const canvasRef = useRef(null)
  const width = useElementWidth(wrapRef)
  const lut = getLut(colormap)

  const image = useMemo(() => {
    if (!spec) return null
    const s = downsampleColumns(spec, MAX_COLUMNS)
    return { rgba: spectrogramToRGBA(s, lut), cols: s.nFrames, rows: s.nMels }
  }, [spec, lut])

  useEffect(() => {
    if (!canvasRef.current || !spec || !image) return
    drawSpectrogram(canvasRef.current, {
      ...image,
      t0: spec.timeOffset,
      t1: spec.timeOffset + spec.nFrames * spec.frameSeconds,
      timeTicks: spec.ticks?.time ?? undefined,
      freqTicks: spec.ticks?.freq ?? undefined,
      dbTicks: spec.ticks?.db ?? undefined,
      melFrequencies: spec.melFrequencies,
      dbMin: spec.dbMin,
      dbMax: spec.dbMax,
      lut,
      width,
      height,
    })
  }, [spec, image, width, height, lut])

  return (
    <div className="spec-wrap" ref={wrapRef}>
      <canvas ref={canvasRef} role="img" aria-label={label} data-testid={testId} />
    </div>
  )
}

/** The live view: a RollingSpectrogram redrawn whenever `version` changes. */
export function LiveSpectrogramCanvas({ rolling, version, height = 250, colormap = 'magma', emptyText }) {
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
    </div>
  )
}
