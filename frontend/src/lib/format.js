// Small display formatters.

export function formatPercent(p, digits = 1) {
  if (!Number.isFinite(p)) return '–'
  const v = Math.max(0, Math.min(1, p)) * 100
  return `${v.toFixed(v >= 99.95 || v === 0 ? 0 : digits)}%`
}

export function formatSeconds(s, digits = 1) {
  if (!Number.isFinite(s)) return '–'
  return `${s.toFixed(digits)} s`
}

export function formatDuration(s) {
  if (!Number.isFinite(s)) return '–'
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  const rest = s - m * 60
  return `${m}:${rest.toFixed(0).padStart(2, '0')} min`
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return ''
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`
  return `${(n / (1024 * 1024)).toFixed(1)} MB`
}

/** A limit in seconds, as people say it: 600 -> "10 min", 90 -> "90 s". */
export function formatLimit(s) {
  if (!Number.isFinite(s)) return ''
  return s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${s} s`
}

/** "nothing confidently heard" -> "Nothing confidently heard." */
export function sentence(text) {
  const t = String(text ?? '').replace(/[_]+/g, ' ').trim()
  if (!t) return ''
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?)]$/.test(t) ? '' : '.'}`
}

/** The upload card's hint: the formats, the limits once /config has said them, and one full
 *  stop ("M4A…. Long recordings" while the limits were loading). */
export function uploadHint(maxUploadMb, maxAudioSeconds) {
  const limits = [maxUploadMb ? `up to ${maxUploadMb} MB` : '', maxAudioSeconds ? formatLimit(maxAudioSeconds) : '']
    .filter(Boolean).join(' and ')
  return `WAV, FLAC, MP3, OGG, M4A and more${limits ? `, ${limits}` : ''}. Long recordings get a timeline.`
}
