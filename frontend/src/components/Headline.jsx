import { formatPercent } from '../lib/format.js'

/** What was heard, in words: "5 sounds: ...", one label, "Nothing heard", "Not sure". */
export function Headline({ loading, said }) {
  return (
    <div className={`top-pred verdict-${said?.kind ?? 'none'}`} aria-live="polite" aria-atomic="true">
      <p className="eyebrow">What was heard</p>
      {loading ? (
        <p className="analyzing"><span className="spinner" aria-hidden="true" /> Analyzing…</p>
      ) : said ? (
        <>
          <p className="big-label" data-testid="top-label" data-verdict={said.kind}>{said.title}</p>
          {said.kind === 'sound' && Number.isFinite(said.confidence) ? (
            <p className="confidence">{formatPercent(said.confidence)} confidence{said.detail}</p>
          ) : said.detail ? (
            <p className="confidence" data-testid="headline-detail">{said.detail}</p>
          ) : null}
        </>
      ) : (
        <p className="muted">—</p>
      )}
    </div>
  )
}
