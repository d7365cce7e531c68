import { classColor, humanizeLabel } from '../lib/labels.js'
import { formatPercent } from '../lib/format.js'

/** Labels with confidence bars; `muted`: greyed (guesses the model is not sure of);
 *  `plain`: the first row not emphasised (an average, not the answer). */
export function TopKList({ items, labels, testId, caption, muted = false, plain = false }) {
  if (!items?.length) return null
  return (
    <ol className={muted ? 'topk muted-list' : 'topk'} data-testid={testId} aria-label={caption}>
      {items.map((it, i) => (
        <li key={it.label} className={i === 0 && !plain ? 'topk-row first' : 'topk-row'}>
          <span className="topk-label">
            <span className="swatch" style={{ background: muted ? 'var(--muted)' : classColor(it.label, labels) }} aria-hidden="true" />
            {humanizeLabel(it.label)}
          </span>
          <span className="topk-value">{formatPercent(it.confidence)}</span>
          <span className="bar" aria-hidden="true">
            <span
              className="bar-fill"
              style={{ width: `${Math.max(0.5, Math.min(100, it.confidence * 100))}%`, background: muted ? 'var(--muted)' : classColor(it.label, labels) }}
            />
          </span>
        </li>
      ))}
    </ol>
  )
}
