import { useMemo, useRef } from 'react'
import { layoutTimeline, legendClasses, nextIndexForKey } from '../lib/timeline.js'
import { classColor, humanizeLabel } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { TimeAxis } from './TimeAxis.jsx'
import { useElementWidth } from '../hooks/useElementWidth.js'

const LANE = 30

/** Per-window predictions of a long file; click or use the arrow keys to pick a window. */
export function Timeline({ windows, duration, labels, selected, onSelect }) {
  const { items, lanes } = useMemo(() => layoutTimeline(windows, duration, 100, { minWidth: 1.5 }), [windows, duration])
  const span = Math.max(duration || 0, ...windows.map((w) => w.window_end || 0))
  const axisRef = useRef(null)
  const width = useElementWidth(axisRef)
  const refs = useRef([])
  const legend = legendClasses(windows)
  const pos = items.findIndex((it) => it.index === selected)

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
      <div className="timeline-track" role="group" aria-labelledby="timeline-title" onKeyDown={onKeyDown}
        style={{ height: lanes * LANE }}>
        {items.map((it, k) => {
          const w = it.window
          const isSel = it.index === selected
          return (
            <button
              key={it.index}
              ref={(el) => { refs.current[k] = el }}
              type="button"
              className={`tl-seg${isSel ? ' selected' : ''}${selected != null && !isSel ? ' dim' : ''}`}
              style={{ left: `${it.x}%`, width: `${it.width}%`, top: it.lane * LANE, background: classColor(w.label, labels) }}
              aria-pressed={isSel}
              aria-label={`Window ${k + 1} of ${items.length}, ${it.start.toFixed(1)} to ${it.end.toFixed(1)} seconds: ${humanizeLabel(w.label)}, ${formatPercent(w.confidence, 0)}`}
              title={`${it.start.toFixed(1)}–${it.end.toFixed(1)} s · ${humanizeLabel(w.label)} ${formatPercent(w.confidence, 0)}`}
              onClick={() => onSelect(isSel ? null : it.index)}
              data-testid="timeline-window"
            >
              <span>{humanizeLabel(w.label)}</span>
            </button>
          )
        })}
      </div>
      <TimeAxis span={span} plotWidth={width} className="timeline-axis" />
      <ul className="legend" aria-label="Legend">
        {legend.map((l) => (
          <li key={l}>
            <span className="swatch" style={{ background: classColor(l, labels) }} aria-hidden="true" />
            {humanizeLabel(l)}
          </li>
        ))}
      </ul>
    </div>
  )
}
