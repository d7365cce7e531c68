import { formatDbfs } from '../lib/events.js'

const FLOOR = -90 // dBFS at the meter's left end

/** The microphone's level (dBFS) as a bar, with the silence threshold marked. */
export function LevelMeter({ level, silenceDbfs }) {
  const has = Number.isFinite(level)
  const frac = (v) => Math.max(0, Math.min(1, (v - FLOOR) / -FLOOR))
  const quiet = has && Number.isFinite(silenceDbfs) && level < silenceDbfs
  return (
    <div className="level" data-testid="level-meter">
      <span className="level-label">Level</span>
      <div className="level-track" role="meter" aria-label="Microphone level" aria-valuemin={FLOOR} aria-valuemax={0}
        aria-valuenow={has ? Math.round(Math.max(FLOOR, level)) : undefined}
        aria-valuetext={has ? formatDbfs(level) : 'no audio'}>
        <span className={`level-fill${quiet ? ' quiet' : ''}`} style={{ width: `${has ? frac(level) * 100 : 0}%` }} />
        {Number.isFinite(silenceDbfs) ? (
          <span className="level-mark" style={{ left: `${frac(silenceDbfs) * 100}%` }} title={`Silence below ${formatDbfs(silenceDbfs)}`} />
        ) : null}
      </div>
      <span className="level-value" data-testid="level-value">{has ? formatDbfs(level) : '–'}</span>
    </div>
  )
}
