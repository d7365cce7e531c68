import { humanizeLabel } from '../lib/labels.js'

/** One-click example clips ("Try: Siren") with their attribution. */
export function ExamplesBar({ examples, attribution, license, error, onTry, busyFile }) {
  if (error && !examples.length) return <p className="muted small">Examples unavailable: {error}</p>
  if (!examples.length) return null
  const sources = examples.filter((ex) => /^https?:\/\//.test(ex.source ?? ''))
  return (
    <div className="examples" data-testid="examples">
      <p className="examples-title" id="examples-title">Or try an example</p>
      <div className="examples-list" role="group" aria-labelledby="examples-title">
        {examples.map((ex) => (
          <button
            key={ex.file}
            type="button"
            className="btn btn-chip"
            onClick={() => onTry(ex)}
            disabled={busyFile != null}
            aria-busy={busyFile === ex.file}
            data-testid="example-button"
          >
            <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
              <path d="M4 2.5v11l9-5.5z" fill="currentColor" />
            </svg>
            Try: {humanizeLabel(ex.label ?? ex.file)}
          </button>
        ))}
      </div>
      {attribution ? (
        <p className="attribution">
          {attribution}
          {license && !attribution.includes(license) ? ` License: ${license}.` : ''}
          {sources.length ? ' Sources: ' : ''}
          {sources.map((ex, i) => (
            <span key={ex.file}>
              {i ? ', ' : ''}
              <a href={ex.source} target="_blank" rel="noreferrer noopener">{humanizeLabel(ex.label)}</a>
            </span>
          ))}
          {sources.length ? '.' : ''}
        </p>
      ) : null}
    </div>
  )
}
