const SPAN = 90 // dB shown: -90..0 dBFS, or 30..120 dB SPL where the server is calibrated

function fmt(v) {
  return Number.isFinite(v) ? `${v < 0 ? '−' : ''}${Math.abs(v).toFixed(1)}` : '–'
}

/** The A-weighted level (IEC 61672-1) of the live audio, as the server measures it: LAeq of
 * the latest hop as a bar, its LAFmax as a tick, and LAeq since the start (or reset). dBFS,
 * or dB SPL where the server is calibrated (CALIBRATION_DB). */
export function LaeqMeter({ levels }) {
  const has = levels && Number.isFinite(levels.laeq)
  const unit = levels?.unit === 'dB' ? 'dB' : 'dBFS'
  const top = levels?.unit === 'dB' ? 120 : 0
  const frac = (v) => Math.max(0, Math.min(1, (v - (top - SPAN)) / SPAN))
  return (
    <div className="laeq" data-testid="laeq-meter" data-laeq={has ? levels.laeq : ''}>
      <span className="laeq-title">LAeq</span>
      <div className="laeq-track" role="meter" aria-label="A-weighted level (LAeq)" aria-valuemin={top - SPAN}
        aria-valuemax={top} aria-valuenow={has ? Math.round(Math.max(top - SPAN, levels.laeq)) : undefined}
        aria-valuetext={has ? `${fmt(levels.laeq)} ${unit}` : 'no audio'}>
        <span className="laeq-fill" style={{ height: `${has ? frac(levels.laeq) * 100 : 0}%` }} />
        {has && Number.isFinite(levels.lamax) ? (
          <span className="laeq-max" style={{ bottom: `${frac(levels.lamax) * 100}%` }} title={`LAFmax ${fmt(levels.lamax)} ${unit}`} />
        ) : null}
      </div>
      <span className="laeq-value" data-testid="laeq-value">{has ? fmt(levels.laeq) : '–'}</span>
      <span className="laeq-unit">{unit}</span>
      <span className="laeq-total muted" data-testid="laeq-total" title="LAeq since the stream started">
        {has && Number.isFinite(levels.laeq_total) ? `Σ ${fmt(levels.laeq_total)}` : ''}
      </span>
    </div>
  )
}
