import { useCallback, useEffect, useState } from 'react'

/** The playback position (s) of an <audio> element, smooth while playing (one update per
 *  animation frame), and `seek(t)`: jump there and play. */
export function useAudioTime(ref, key) {
  const [time, setTime] = useState(0)
  useEffect(() => {
    const el = ref.current
    if (!el) return undefined
    let raf = 0
    const tick = () => {
      setTime(el.currentTime)
      if (!el.paused) raf = requestAnimationFrame(tick)
    }
    const onPlay = () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(tick) }
    const onUpdate = () => setTime(el.currentTime)
    el.addEventListener('play', onPlay)
    el.addEventListener('seeked', onUpdate)
    el.addEventListener('timeupdate', onUpdate)
    setTime(el.currentTime)
    return () => {
      cancelAnimationFrame(raf)
      el.removeEventListener('play', onPlay)
      el.removeEventListener('seeked', onUpdate)
      el.removeEventListener('timeupdate', onUpdate)
    }
  }, [ref, key])

  const seek = useCallback((t) => {
    const el = ref.current
    if (!el || !Number.isFinite(t)) return
    el.currentTime = Math.max(0, t)
    setTime(el.currentTime)
    el.play?.().catch(() => {})
  }, [ref])

  return { time, seek }
}
