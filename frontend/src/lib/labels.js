// Label names and per-class colours.

/** "dog_bark" -> "Dog bark", "air-conditioner" -> "Air conditioner", "Mr Whiskers" stays. */
export function humanizeLabel(label) {
  if (label == null) return ''
  const text = String(label).replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim()
  if (!text) return ''
  // A custom model's own capitals ("Mr Whiskers") stay; an all-capitals name is calmed down.
  const rest = text === text.toUpperCase() ? text.slice(1).toLowerCase() : text.slice(1)
  return text.charAt(0).toUpperCase() + rest
}

// Tableau-10 style palette: distinct hues, all readable on a dark background.
export const CLASS_PALETTE = [
  '#4e9be6', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#c49a6c', '#a0cbe8',
  '#8cd17d', '#d4a6c8',
]

function hashString(s) {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return h >>> 0
}

/** Stable colour for a class: by its index in the model's label list when known,
 *  otherwise by a hash of the name (so colours never depend on result order). A model
 *  with more classes than the palette gets golden-angle hues for the rest, so no two
 *  of its classes share a colour. */
export function classColor(label, labels = []) {
  const i = labels.indexOf(label)
  const n = CLASS_PALETTE.length
  if (i >= n) return `hsl(${Math.round((i * 137.508) % 360)}, 62%, 62%)`
  return CLASS_PALETTE[(i >= 0 ? i : hashString(String(label))) % n]
}

/** The bundled examples worth offering: those whose label is one of the model's classes
 *  (a custom model knows none of UrbanSound8K's). All of them while the labels are unknown. */
export function examplesForLabels(examples, labels = []) {
  if (!labels.length) return examples
  return examples.filter((ex) => labels.includes(ex.label))
}

/** "10 UrbanSound8K classes", or "3 classes · custom model (my_sounds)". */
export function modelSummary(nClasses, card) {
  const dataset = card?.dataset
  if (!nClasses) return dataset || ''
  if (!dataset) return `${nClasses} classes`
  if (dataset === 'UrbanSound8K') return `${nClasses} UrbanSound8K classes`
  return `${nClasses} classes · custom model (${dataset})`
}

/** Accept {"labels": [...]} or a plain list. */
export function parseLabels(payload) {
  if (Array.isArray(payload)) return payload.map(String)
  if (payload && Array.isArray(payload.labels)) return payload.labels.map(String)
  return []
}

/** Top-k entries from a {label: p} map, highest first. */
export function topKFromProbabilities(probabilities, k = 5) {
  if (!probabilities) return []
  return Object.entries(probabilities)
    .map(([label, confidence]) => ({ label, confidence: Number(confidence) }))
    .filter((e) => Number.isFinite(e.confidence))
    .sort((a, b) => b.confidence - a.confidence)
    .slice(0, k)
}

// The one shorter name a class may be shown as in a narrow place (a window on a phone): the
// common short name people use ("Children" for children playing, "Music" for street music),
// never an abbreviation made up for the room ("Kids", "Jackhmr", "NS"). UrbanSound8K's
// classes have theirs here; another model's label of several words gets its first word.
const SHORT_NAMES = {
  air_conditioner: 'A/C',
  car_horn: 'Horn',
  children_playing: 'Children',
  dog_bark: 'Dog',
  drilling: 'Drill',
  engine_idling: 'Engine',
  gun_shot: 'Gunshot',
  street_music: 'Music',
}

/** The names a label may be shown as, longest first: the full name, then its one short name
 *  ("Children playing", "Children"); never shorter than 2 characters. */
export function labelCandidates(label) {
  const full = humanizeLabel(label)
  const key = String(label ?? '').toLowerCase().replace(/[\s-]+/g, '_')
  let short = SHORT_NAMES[key]
  if (short == null) {
    const words = full.split(' ').filter((w) => /\p{L}/u.test(w))
    short = words.length > 1 && words[0].length >= 3 ? words[0] : null
  }
  const out = []
  for (const c of [full, short]) if (c && c.length >= 2 && !out.includes(c)) out.push(c)
  return out
}

/** The longest of the label's names whose width (`measure(text)`, px) fits in `maxPx`, or ''
 *  when none does (the colour, the legend and the tooltip say it then: never one letter). */
export function fitLabel(label, maxPx, measure) {
  if (!(maxPx > 0)) return ''
  return labelCandidates(label).find((c) => measure(c) <= maxPx) ?? ''
}

let measureCtx = null
/** A text measurer for a CSS font ("650 12px Inter, sans-serif"); a rough estimate without a canvas. */
export function textMeasurer(font) {
  if (!measureCtx && typeof document !== 'undefined') measureCtx = document.createElement('canvas').getContext('2d')
  if (!measureCtx) return (text) => String(text).length * 7
  return (text) => {
    measureCtx.font = font
    return measureCtx.measureText(String(text)).width
  }
}
