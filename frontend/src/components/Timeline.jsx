import { useMemo, useRef } from 'react'
import { labelRuns, layoutTimeline, nextIndexForKey, timelineLegend, windowKind } from '../lib/timeline.js'
import { classColor, fitLabel, humanizeLabel, textMeasurer } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { plotInsets } from '../lib/draw.js'
import { TimeAxis } from './TimeAxis.jsx'
import { useElementWidth } from '../hooks/useElementWidth.js'

const LANE = 30
const RUN_ROW = 17 // each of the two names rows of a compact timeline
const CHIP_PAD_PX = 12 // .tl-seg's left + right padding
const CHIP_FONT = "650 12px Inter, system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
const NEUTRAL_NAMES = { silence: 'Silence', unsure: 'Not sure' }

/** The grey chips' legend entry: silence, not sure, or both. */
function neutralLegend(verdict, chips) {
  if (verdict === 'silence') return 'Silence: no sound heard'
  const silent = chips.some((c) => c.kind === 'silence')
  const unsure = chips.some((c) => c.kind === 'unsure')
  if (silent && unsure) return 'Grey: silence, or not sure (below the confidence threshold)'
  return silent ? 'Grey: silence' : 'Grey: not sure (below the confidence threshold)'
}

/** Per-window predictions of a long file; click or use the arrow keys to pick a window.
 *  A window of a silent file, or one the model is unsure of, is grey (no class colour). A
 *  chip shows the longest name of its class that fits (labels.js fitLabel). When a chip has
 *  room for none (a long file on a phone), the chips go blank and two staggered rows above
 *  them name each run of windows of one class instead (the names fitted to the room). */
export function Timeline({ windows, duration, labels, selected, onSelect, verdict, unknownThreshold }) {
  const { items, lanes } = useMemo(() => layoutTimeline(windows, duration, 100, { minWidth: 1.5 }), [windows, duration])
  const span = Math.max(duration || 0, ...windows.map((w) => w.window_end || 0))
  const axisRef = useRef(null)
  const width = useElementWidth(axisRef)
  const refs = useRef([])
  const opts = { verdict, unknownThreshold }
  const legend = timelineLegend(windows, opts)
  const pos = items.findIndex((it) => it.index === selected)
  const measure = useMemo(() => textMeasurer(CHIP_FONT), [])
  // the spectrogram's plot width: the axis gets the spectrogram's (and the events') ticks
  const inset = plotInsets(width)
  const specPlotWidth = Math.max(1, width - inset.left - inset.right)
  const trackWidth = Math.max(1, width - 4) // .timeline-track's 2-px side margins

  const chips = items.map((it) => {
    const w = it.window
    const kind = windowKind(w, opts)
    const neutral = kind !== 'sound'
    const name = neutral ? NEUTRAL_NAMES[kind] : humanizeLabel(w.label)
    const room = (it.width / 100) * trackWidth - CHIP_PAD_PX - 2
    const text = fitLabel(neutral ? NEUTRAL_NAMES[kind] : w.label, room, measure)
    return { it, w, kind, neutral, name, text }
  })
  const compact = chips.filter((c) => c.text === '').length > chips.length / 4
  const runs = compact && span > 0
    ? labelRuns(chips.map((c) => ({ start: c.it.start, end: c.it.end, name: c.neutral ? c.kind : c.w.label, c })), (r) => r.name)
      .map((r, i, all) => {
        // two staggered rows: a name may reach to where the run after next starts
        const end = all[i + 2]?.start ?? span
        const room = ((end - r.start) / span) * trackWidth - 8
        const neutral = r.name === 'silence' || r.name === 'unsure'
        return { ...r, end, row: i % 2, neutral, full: neutral ? NEUTRAL_NAMES[r.name] : humanizeLabel(r.name),
          text: fitLabel(neutral ? NEUTRAL_NAMES[r.name] : r.name, room, measure) }
      })
    : []

  const onKeyDown = (e) => {
    const next = nextIndexForKey(e.key, pos < 0 ? null : pos, items.length)
    if (next == null) return
    e.preventDefault()
    onSelect(items[next].index)
    refs.current[next]?.focus()
  }

  return (
    <div className="timeline" data-testid="timeline" ref={axisRef}>
      <div className="timeline-head">
        <h3 id="timeline-title">Analysis windows</h3>
        <p className="muted small">
          {windows.length} windows. Select one to see its spectrogram and predictions (arrow keys move).
        </p>
      </div>
      {compact ? (
        <div className="tl-runs" aria-hidden="true" style={{ height: 2 * RUN_ROW }} data-testid="timeline-runs">
          {runs.map((r) => (
            <span key={`${r.name}-${r.start}`} className={`tl-run${r.neutral ? ' neutral' : ''}`} data-full={r.full}
              style={{ left: `${(r.start / span) * 100}%`, width: `${((r.end - r.start) / span) * 100}%`, top: r.row * RUN_ROW, height: RUN_ROW }}>
              <span className="tl-run-text">{r.text}</span>
            </span>
          ))}
        </div>
      ) : null}
      <div className="timeline-track" role="group" aria-labelledby="timeline-title" onKeyDown={onKeyDown}
        style={{ height: lanes * LANE }}>
        {chips.map(({ it, w, kind, neutral, name, text: fitted }, k) => {
          const isSel = it.index === selected
          const text = compact ? '' : fitted
          const guess = w.label != null ? `${humanizeLabel(w.label)}, ${formatPercent(w.confidence, 0)}` : ''
          const said = neutral ? `${name}${kind === 'unsure' && guess ? ` (best guess ${guess})` : ''}` : guess
          return (
            <button
              key={it.index}
              ref={(el) => { refs.current[k] = el }}
              type="button"
              className={`tl-seg${neutral ? ' neutral' : ''}${isSel ? ' selected' : ''}${selected != null && !isSel ? ' dim' : ''}`}
              style={{ left: `${it.x}%`, width: `${it.width}%`, top: it.lane * LANE, background: neutral ? undefined : classColor(w.label, labels) }}
              aria-pressed={isSel}
              aria-label={`Window ${k + 1} of ${items.length}, ${it.start.toFixed(1)} to ${it.end.toFixed(1)} seconds: ${said}`}
              title={`${it.start.toFixed(1)}–${it.end.toFixed(1)} s · ${said}`}
              onClick={() => onSelect(isSel ? null : it.index)}
              data-testid="timeline-window"
              data-kind={kind}
            >
              <span className="tl-text" data-full={name}>{text}</span>
            </button>
          )
        })}
      </div>
      <TimeAxis span={span} plotWidth={specPlotWidth} className="timeline-axis" />
      <ul className="legend" aria-label="Legend">
        {legend.classes.map((l) => (
          <li key={l} data-testid="legend-class">
            <span className="swatch" style={{ background: classColor(l, labels) }} aria-hidden="true" />
            {humanizeLabel(l)}
          </li>
        ))}
        {legend.neutral ? (
          <li key="__neutral" data-testid="legend-neutral">
            <span className="swatch swatch-neutral" aria-hidden="true" />
            {neutralLegend(verdict, chips)}
          </li>
        ) : null}
      </ul>
    </div>
  )
}
