import { useMemo } from 'react'
import { axisTimeTicks } from '../lib/ticks.js'

/** A time axis under a track spanning [0, span] s: "0, 5, 10 s", the unit on the last
 *  label. The ticks are the spectrogram's (ticks.js axisTimeTicks for a plot `plotWidth`
 *  px wide: the spectrogram's plot width gives the spectrogram's ticks). */
export function TimeAxis({ span, plotWidth, className = 'events-axis' }) {
  const ticks = useMemo(() => {
    const all = axisTimeTicks(0, span, plotWidth)
    return all.map((t, i) => ({ ...t, label: i === all.length - 1 ? `${t.label} s` : t.label }))
  }, [span, plotWidth])
  return (
    <div className={className} aria-hidden="true" data-ticks={ticks.map((t) => t.value).join(',')}>
      {ticks.map((t) => (
        <span key={t.value} style={{ left: `${(t.value / span) * 100}%` }} data-value={t.value}>{t.label}</span>
      ))}
    </div>
  )
}
