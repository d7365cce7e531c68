import { classColor, humanizeLabel } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { formatTime } from '../lib/events.js'

/** The sounds heard, longest first: name, total seconds, peak confidence. */
function HeardList({ heard, labels }) {
  const peak = heard.source === 'heard'
  return (
    <ol className="heard" data-testid="heard-list" data-source={heard.source} aria-label="Sounds heard, longest first">
      {heard.items.map((h) => (
        <li key={h.label} className="heard-row" data-testid="heard-item" data-label={h.label} data-seconds={h.seconds}>
          <span className="swatch" style={{ background: classColor(h.label, labels) }} aria-hidden="true" />
          <span className="heard-label">{humanizeLabel(h.label)}</span>
          <span className="heard-seconds" title="total time heard">{formatTime(h.seconds)} s</span>
          <span className="heard-conf" title={peak ? 'peak confidence' : 'confidence (mean over the event)'}>
            {peak ? 'peak ' : ''}{formatPercent(h.confidence, 0)}
          </span>
        </li>
      ))}
    </ol>
  )
}

/** What was heard: the sounds heard with their time and peak confidence, or "Nothing
 *  heard", "Not sure", "Nothing recognised" (with the server's reason). */
export function Headline({ loading, said, labels }) {
  return (
    <div className={`top-pred verdict-${said?.kind ?? 'none'}`} aria-live="polite" aria-atomic="true">
      <p className="eyebrow">{said?.heard ? 'Heard' : 'What was heard'}</p>
      {loading ? (
        <p className="analyzing"><span className="spinner" aria-hidden="true" /> Analyzing…</p>
      ) : said ? (
        <>
          <p className="big-label" data-testid="top-label" data-verdict={said.kind}>{said.title}</p>
          {said.detail ? <p className="confidence" data-testid="headline-detail">{said.detail}</p> : null}
          {said.heard ? <HeardList heard={said.heard} labels={labels} /> : null}
        </>
      ) : (
        <p className="muted">—</p>
      )}
    </div>
  )
}
