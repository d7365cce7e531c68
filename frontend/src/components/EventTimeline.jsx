import { useMemo, useRef } from 'react'
import { layoutTimeline } from '../lib/timeline.js'
import { classColor, humanizeLabel } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { eventsAsSpans, formatSpan, formatTime } from '../lib/events.js'
import { plotInsets } from '../lib/draw.js'
import { TimeAxis } from './TimeAxis.jsx'
import { useElementWidth } from '../hooks/useElementWidth.js'

const LANE = 16

/** The detected sounds on the spectrogram's time axis (same x scale and insets), with a
 *  playhead, and as a list below. Clicking a bar or a list entry plays from there. */
export function EventTimeline({ events, duration, labels, time, onSeek, activeEvent }) {
  const wrapRef = useRef(null)
  const width = useElementWidth(wrapRef)
  const inset = plotInsets(width)
  const plotWidth = Math.max(1, width - inset.left - inset.right)
  const span = Math.max(duration || 0, ...events.map((e) => e.end || 0))
  const { items, lanes } = useMemo(() => layoutTimeline(eventsAsSpans(events), span, 100, { minWidth: 0.8 }),
    [events, span])
  const x = (t) => `${(Math.max(0, Math.min(span, t)) / span) * 100}%`

  return (
    <div className="events" data-testid="event-timeline" ref={wrapRef}>
      <h3 id="events-title">Sounds over time</h3>
      <div className="events-plot" style={{ paddingLeft: inset.left, paddingRight: inset.right }}
        data-inset-left={inset.left} data-inset-right={inset.right}>
        <div className="events-track" role="group" aria-labelledby="events-title" data-testid="events-track"
          style={{ height: Math.max(1, lanes) * LANE + 4 }}
          onClick={(e) => {
            if (e.target !== e.currentTarget) return
            const r = e.currentTarget.getBoundingClientRect()
            onSeek(((e.clientX - r.left) / r.width) * span)
          }}>
          {items.map((it) => {
            const ev = it.window
            return (
              <button key={`${ev.label}-${ev.start}`} type="button" tabIndex={-1}
                className={`ev-bar${activeEvent === ev ? ' active' : ''}`}
                style={{ left: `${it.x}%`, width: `${it.width}%`, top: it.lane * LANE + 2, background: classColor(ev.label, labels) }}
                title={`${humanizeLabel(ev.label)} · ${formatSpan(ev)} · ${formatPercent(ev.confidence, 0)}`}
                aria-hidden="true"
                data-testid="event-bar" data-start={ev.start}
                onClick={() => onSeek(ev.start)} />
            )
          })}
          {Number.isFinite(time) && span > 0 ? (
            <span className="playhead" style={{ left: x(time) }} data-testid="timeline-playhead" aria-hidden="true" />
          ) : null}
        </div>
        <TimeAxis span={span} plotWidth={plotWidth} />
      </div>
      <ol className="event-list" aria-label="Detected sounds">
        {events.map((ev) => (
          <li key={`${ev.label}-${ev.start}`}>
            <button type="button" className={`event-item${activeEvent === ev ? ' active' : ''}`}
              onClick={() => onSeek(ev.start)} data-testid="event-item" data-start={ev.start}
              aria-label={`${humanizeLabel(ev.label)}, ${formatTime(ev.start)} to ${formatTime(ev.end)} seconds, ${formatPercent(ev.confidence, 0)}: play from here`}>
              <span className="swatch" style={{ background: classColor(ev.label, labels) }} aria-hidden="true" />
              <span className="event-label">{humanizeLabel(ev.label)}</span>
              <span className="event-time">{formatSpan(ev)}</span>
              <span className="event-conf">{formatPercent(ev.confidence, 0)}</span>
            </button>
          </li>
        ))}
      </ol>
    </div>
  )
}
