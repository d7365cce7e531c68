import { classColor, humanizeLabel } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'
import { formatTime } from '../lib/events.js'

/** Every sound heard, longest first: the answer's row first and emphasised, each with its
 *  total time and confidence (its events' mean, weighted by length: the API's numbers). */
export function HeardList({ heard, labels }) {
  const mean = heard.source === 'heard'
  return (
    <ol className="heard" data-testid="heard-list" data-source={heard.source} aria-label="Sounds heard, longest first">
      {heard.items.map((h, i) => (
        <li key={h.label} className={i === 0 ? 'heard-row answer' : 'heard-row'} data-testid="heard-item"
          data-label={h.label} data-seconds={h.seconds}>
          <span className="swatch" style={{ background: classColor(h.label, labels) }} aria-hidden="true" />
          <span className="heard-label">{humanizeLabel(h.label)}</span>
          <span className="heard-seconds" title="total time heard">{formatTime(h.seconds)} s</span>
          <span className="heard-conf" title={mean ? 'confidence: its events’ mean, weighted by length' : 'confidence of its best event'}>
            {formatPercent(h.confidence, 0)}
          </span>
        </li>
      ))}
    </ol>
  )
}

/** The answer: the sound heard longest (the API's `top_prediction`), or "Nothing heard",
 *  "Not sure", "Nothing recognised" (with the server's reason). */
export function Headline({ loading, said }) {
  return (
    <div className={`top-pred verdict-${said?.kind ?? 'none'}`} aria-live="polite" aria-atomic="true">
      <p className="eyebrow">{said?.heard ? 'Heard' : 'Result'}</p>
      {loading ? (
        <p className="analyzing"><span className="spinner" aria-hidden="true" /> Analyzing…</p>
      ) : said ? (
        <>
          <p className="big-label" data-testid="top-label" data-verdict={said.kind} data-label={said.label ?? ''}>{said.title}</p>
          {said.detail ? <p className="confidence" data-testid="headline-detail">{said.detail}</p> : null}
        </>
      ) : (
        <p className="muted">—</p>
      )}
    </div>
  )
}
