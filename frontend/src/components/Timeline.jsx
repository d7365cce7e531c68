import { useMemo, useRef } from 'react'
import { layoutTimeline, nextIndexForKey, stateRows, timelineLegend, windowKind } from '../lib/timeline.js'
import { classColor, fitLabel, humanizeLabel, labelCandidates, textMeasurer } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { plotInsets } from '../lib/draw.js'
import { TimeAxis } from './TimeAxis.jsx'
import { useElementWidth } from '../hooks/useElementWidth.js'

const LANE = 30
const ROW = 24 // a compact timeline's row: one per state, named at its start
const NAME_MAX_PX = 104 // a row's name: the full one up to this wide, else the short one
const CHIP_PAD_PX = 12 // .tl-seg's left + right padding
const CHIP_FONT = "650 12px Inter, system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
// One word per state, on the chip and on the run: 'Not sure' was cut to 'Not' or 'NS'.
const NEUTRAL_NAMES = { silence: 'Silence', unsure: 'Unsure' }

/** The grey chips' legend entry: silence, not sure, or both. */
function neutralLegend(verdict, chips) {
  if (verdict === 'silence') return 'Silence: no sound heard'
  const silent = chips.some((c) => c.kind === 'silence')
  const unsure = chips.some((c) => c.kind === 'unsure')
  if (silent && unsure) return 'Grey: silence, or unsure (below the confidence threshold)'
  return silent ? 'Grey: silence' : 'Grey: unsure (below the confidence threshold)'
}

/** Per-window predictions of a long file; click or use the arrow keys to pick a window.
 *  A window of a silent file, or one the model is unsure of, is grey (no class colour). A
 *  chip shows its class's full name, or its one common short name, when it fits
 *  (labels.js fitLabel). When a chip has room for neither (a long file on a phone: a 4-s
 *  window of a 45-s file is 30 px wide there, and a run of one class often no wider), the
 *  timeline is laid out by state instead: a row per class (and "Unsure", "Silence"), its
 *  name at the row's start, each window a block in its row; every block is then named by
 *  its row, with no legend to look up. */
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
  const byState = compact ? stateRows(chips.map((c) => (c.neutral ? c.kind : c.w.label))) : null
  const rowNames = byState ? byState.rows.map((key) => {
    const names = labelCandidates(NEUTRAL_NAMES[key] ?? key)
    const text = names.find((n) => measure(n) <= Math.min(NAME_MAX_PX, trackWidth * 0.34)) ?? names.at(-1) ?? ''
    return { key, text, full: NEUTRAL_NAMES[key] ?? humanizeLabel(key), neutral: key in NEUTRAL_NAMES }
  }) : []
  const nameCol = compact ? Math.ceil(Math.max(0, ...rowNames.map((r) => measure(r.text)))) + 14 : 0
  // a compact chip's place: after the names column, in its state's row
  const place = (it, lane) => (compact
    ? { left: `calc(${nameCol}px + (100% - ${nameCol}px) * ${it.x / 100})`, width: `calc((100% - ${nameCol}px) * ${it.width / 100})`, top: lane * ROW }
    : { left: `${it.x}%`, width: `${it.width}%`, top: lane * LANE })

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
      <div className={`timeline-track${compact ? ' by-state' : ''}`} role="group" aria-labelledby="timeline-title"
        onKeyDown={onKeyDown} style={{ height: compact ? rowNames.length * ROW : lanes * LANE }} data-compact={compact}>
        {rowNames.map((r, i) => (
          <span key={r.key} className={`tl-row-name${r.neutral ? ' neutral' : ''}`} aria-hidden="true" data-testid="timeline-row"
            data-key={r.key} data-full={r.full} style={{ top: i * ROW, width: nameCol, height: ROW,
              borderLeftColor: r.neutral ? undefined : classColor(r.key, labels) }}>
            {r.text}
          </span>
        ))}
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
              style={{ ...place(it, compact ? byState.rowOf.get(neutral ? kind : w.label) : it.lane),
                background: neutral ? undefined : classColor(w.label, labels) }}
              aria-pressed={isSel}
              aria-label={`Window ${k + 1} of ${items.length}, ${it.start.toFixed(1)} to ${it.end.toFixed(1)} seconds: ${said}`}
              title={`${it.start.toFixed(1)}–${it.end.toFixed(1)} s · ${said}`}
              onClick={() => onSelect(isSel ? null : it.index)}
              data-testid="timeline-window"
              data-kind={kind}
              data-state={neutral ? kind : w.label}
            >
              <span className="tl-text" data-full={name}>{text}</span>
            </button>
          )
        })}
      </div>
      <div style={{ marginLeft: nameCol }}>
        <TimeAxis span={span} plotWidth={specPlotWidth} className="timeline-axis" />
      </div>
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
