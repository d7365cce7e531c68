import { useMemo } from 'react'
import { thinTicks, timeTicks } from '../lib/ticks.js'

const TICK_LABEL_PX = 40 // room for a tick label ("120 s")

/** A time axis under a track `plotWidth` px wide spanning [0, span] s: "0, 5, 10 s",
 *  the unit on the last label, labels thinned so that none touch. */
export function TimeAxis({ span, plotWidth, className = 'events-axis' }) {
  const ticks = useMemo(() => {
    if (!(span > 0)) return []
    const all = timeTicks(0, span, Math.max(2, Math.floor(plotWidth / 60)))
    const kept = thinTicks(all, (t) => (t.value / span) * plotWidth, TICK_LABEL_PX)
    return kept.map((t, i) => ({ ...t, label: i === kept.length - 1 ? `${t.label} s` : t.label }))
  }, [span, plotWidth])
  return (
    <div className={className} aria-hidden="true">
      {ticks.map((t) => (
        <span key={t.value} style={{ left: `${(t.value / span) * 100}%` }}>{t.label}</span>
      ))}
    </div>
  )
}
