// Issue #21 (web app): what was heard leads, silence shows no class colours and looks
// silent, labels fit, one set of time ticks, readable upload errors.
import { describe, expect, it } from 'vitest'
import { axisTimeTicks, TIME_TICK_MIN_PX } from '../src/lib/ticks.js'
import { drawSpectrogram, plotInsets } from '../src/lib/draw.js'
import { displayRange, rangeLut, FLOOR_DBFS, MIN_RANGE_DB } from '../src/lib/spectrogram.js'
import { buildLut, COLORMAP_ANCHORS } from '../src/lib/colormap.js'
import { fitLabel, labelCandidates } from '../src/lib/labels.js'
import { timelineLegend, windowKind } from '../src/lib/timeline.js'
import { coveredSeconds, describeResult, heardSounds } from '../src/lib/events.js'
import { cleanDetail, fileErrorMessage, ApiError } from '../src/lib/api.js'

/** A canvas stand-in that records the text drawn (x, y, text). */
function fakeCanvas() {
  const texts = []
  const ctx = new Proxy({}, {
    get(target, key) {
      if (key in target) return target[key]
      if (key === 'fillText') return (text, x, y) => texts.push({ text: String(text), x, y })
      if (key === 'measureText') return (text) => ({ width: String(text).length * 6 })
      return () => {}
    },
    set(target, key, value) {
      target[key] = value
      return true
    },
  })
  return { canvas: { width: 0, height: 0, style: {}, getContext: () => ctx }, texts }
}

describe('one set of time ticks for the spectrogram and the events track', () => {
  it('a 46-s file: 5-s ticks on a wide plot, at least TIME_TICK_MIN_PX apart', () => {
    const ticks = axisTimeTicks(0, 46, 1100)
    expect(ticks.map((t) => t.value)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45])
    const narrow = axisTimeTicks(0, 46, 244)
    for (const list of [ticks, narrow]) {
      for (let i = 1; i < list.length; i++) {
        const gap = ((list[i].value - list[i - 1].value) / 46) * (list === ticks ? 1100 : 244)
        expect(gap).toBeGreaterThanOrEqual(TIME_TICK_MIN_PX)
      }
    }
    expect(narrow.map((t) => t.value)).toEqual([0, 20, 40])
    expect(axisTimeTicks(0, 10, 300, { minTime: 3 }).map((t) => t.value)).toEqual([4, 6, 8, 10])
    expect(axisTimeTicks(0, 0, 600)).toEqual([])
  })

  for (const width of [1290, 960, 340]) {
    it(`the spectrogram draws exactly the events axis's ticks (canvas ${width} px)`, () => {
      const { canvas, texts } = fakeCanvas()
      const drawn = drawSpectrogram(canvas, {
        rgba: null, cols: 0, rows: 64, t0: 0, t1: 46, melFrequencies: [], dbMin: -100, dbMax: -20,
        lut: null, width, height: 260,
      })
      const inset = plotInsets(width)
      const axis = axisTimeTicks(0, 46, width - inset.left - inset.right) // what EventTimeline's TimeAxis shows
      expect(drawn.time).toEqual(axis.map((t) => t.value))
      // and those labels really are on the canvas, below the plot
      const below = texts.filter((t) => t.y > 260 - 40).map((t) => t.text)
      for (const t of axis) expect(below).toContain(t.label)
    })
  }
})

describe('spectrogram colour range: silence looks silent', () => {
  const lut = buildLut(COLORMAP_ANCHORS.magma)
  it('5 s of dither (-124.5 .. -84.5 dBFS from the server) is drawn on a fixed-floor scale', () => {
    const r = displayRange(-124.54, -84.54)
    expect(r.lo).toBe(FLOOR_DBFS)
    expect(r.hi - r.lo).toBeGreaterThanOrEqual(MIN_RANGE_DB)
    // the loudest dither value (byte 255 = -84.5 dBFS) is a dark colour, the rest black
    const codes = rangeLut(lut, -124.54, -84.54, r.lo, r.hi)
    const bright = (v) => Math.max(codes[v * 3], codes[v * 3 + 1], codes[v * 3 + 2])
    expect(bright(255)).toBeLessThan(130) // magma at 26% (the top colour, 252, before)
    expect(bright(0)).toBeLessThan(10)
    expect(bright(128)).toBe(bright(0)) // -104.5 dBFS: below the floor, black
  })

  it('a real recording keeps its own range; a narrow one is widened', () => {
    expect(displayRange(-95, -12)).toEqual({ lo: -95, hi: -12 })
    expect(displayRange(-130, -10)).toEqual({ lo: -100, hi: -10 })
    const narrow = displayRange(-50, -10)
    expect(narrow.hi).toBe(-10)
    expect(narrow.hi - narrow.lo).toBe(MIN_RANGE_DB)
    // identity when the scale is the payload's own
    const same = rangeLut(lut, -95, -12, -95, -12)
    expect([...same]).toEqual([...lut])
  })
})

describe('labels that fit', () => {
  const measure = (s) => s.length * 7
  it('offers shorter names, never one letter', () => {
    expect(labelCandidates('children_playing')).toEqual(['Children playing', 'Children'])
    expect(labelCandidates('jackhammer')).toEqual(['Jackhammer'])
    expect(labelCandidates('siren')).toEqual(['Siren'])
    expect(labelCandidates('Noise burst — long label for the legend')[1]).toBe('Noise')
    expect(labelCandidates('x')).toEqual([])
    for (const l of ['car_horn', 'dog_bark', 'gun_shot', 'air_conditioner', 'Chirp ↗']) {
      for (const c of labelCandidates(l)) expect(c.length).toBeGreaterThanOrEqual(2)
    }
  })

  it('picks the longest name that fits, or none', () => {
    expect(fitLabel('children_playing', 200, measure)).toBe('Children playing')
    expect(fitLabel('children_playing', 60, measure)).toBe('Children')
    expect(fitLabel('children_playing', 30, measure)).toBe('')
    expect(fitLabel('siren', 20, measure)).toBe('')
    expect(fitLabel('siren', 0, measure)).toBe('')
  })
})

describe('no class colours where nothing was heard', () => {
  const w = (label, confidence) => ({ label, confidence, window_start: 0, window_end: 4 })
  it('a silent file: every window neutral, no class in the legend', () => {
    const windows = [w('siren', 0.42), w('siren', 0.9)]
    expect(windows.map((x) => windowKind(x, { verdict: 'silence' }))).toEqual(['silence', 'silence'])
    expect(timelineLegend(windows, { verdict: 'silence' })).toEqual({ classes: [], neutral: true })
  })

  it('the API\'s own window verdicts: a silent window (label null) and an unsure one are neutral', () => {
    const windows = [{ ...w(null, 0), verdict: 'silence' }, { ...w('siren', 0.3), verdict: 'unknown' }, { ...w('dog_bark', 0.9), verdict: 'sound' }]
    expect(windows.map((x) => windowKind(x, { verdict: 'sound' }))).toEqual(['silence', 'unsure', 'sound'])
    expect(timelineLegend(windows, { verdict: 'sound' })).toEqual({ classes: ['dog_bark'], neutral: true })
  })

  it('a window below the unknown threshold is "unsure"; the rest keep their class', () => {
    const windows = [w('siren', 0.42), w('dog_bark', 0.9)]
    const opts = { verdict: 'sound', unknownThreshold: 0.475 }
    expect(windows.map((x) => windowKind(x, opts))).toEqual(['unsure', 'sound'])
    expect(timelineLegend(windows, opts)).toEqual({ classes: ['dog_bark'], neutral: true })
    expect(timelineLegend(windows, { verdict: 'sound' })).toEqual({ classes: ['siren', 'dog_bark'], neutral: false })
  })
})

describe('what was heard leads', () => {
  const ev = (label, start, end, confidence = 0.8) => ({ label, start, end, confidence })
  it('uses the API\'s heard list (longest first) and not the averaged top prediction', () => {
    const r = {
      verdict: 'sound',
      top_prediction: { label: 'siren', confidence: 0.6 },
      top_k: [{ label: 'street_music', confidence: 0.19 }],
      heard: [{ label: 'siren', seconds: 8, peak_confidence: 0.97 }, { label: 'dog_bark', seconds: 4.5, peak_confidence: 0.88 }],
      events: [ev('siren', 0, 8), ev('dog_bark', 10, 14.5)],
      windows: [{}, {}],
    }
    const d = describeResult(r)
    expect(d).toMatchObject({ kind: 'sounds', title: 'Siren', label: 'siren' })
    expect(d.heard.source).toBe('heard')
    expect(d.heard.items).toEqual([
      { label: 'siren', seconds: 8, confidence: 0.97 }, { label: 'dog_bark', seconds: 4.5, confidence: 0.88 }])
  })

  it('an older API (no heard): totals the events per label, union of their spans', () => {
    expect(coveredSeconds([ev('a', 0, 4), ev('a', 2, 6), ev('a', 10, 11)])).toBe(7)
    const h = heardSounds({ events: [ev('dog_bark', 0, 2, 0.7), ev('siren', 3, 9, 0.6), ev('dog_bark', 10, 11, 0.9)] })
    expect(h.source).toBe('events')
    expect(h.items).toEqual([{ label: 'siren', seconds: 6, confidence: 0.6 }, { label: 'dog_bark', seconds: 3, confidence: 0.9 }])
  })

  it('top_prediction null: says why, and lists nothing', () => {
    const d = describeResult({ verdict: 'sound', top_prediction: null, top_prediction_reason: 'nothing confidently heard', heard: [], events: [] })
    expect(d).toMatchObject({ kind: 'none', title: 'Nothing recognised', detail: 'Nothing confidently heard.', heard: null })
    const s = describeResult({ verdict: 'silence', top_prediction: null, top_prediction_reason: 'silence', heard: [], level_dbfs: -92 })
    expect(s).toMatchObject({ kind: 'silence', title: 'Nothing heard', heard: null })
    const u = describeResult({ verdict: 'unknown', top_prediction: null, top_prediction_reason: 'nothing confidently heard', heard: [] })
    expect(u.title).toBe('Not sure')
    expect(u.detail).toBe('No sound the model knows is likely enough. Its best guesses:')
  })
})

describe('upload errors: "<file name>: <message>", no internal prefix', () => {
  it('drops "upload: " and the file name the server may put first', () => {
    expect(cleanDetail('upload: could not decode this file as audio (unsupported or corrupt format)'))
      .toBe('Could not decode this file as audio (unsupported or corrupt format)')
    expect(cleanDetail('bad file.wav: the file is empty', 'bad file.wav')).toBe('The file is empty.')
    expect(cleanDetail('Sample rate: 8 kHz is too low')).toBe('Sample rate: 8 kHz is too low.')
  })

  it('names the file first', () => {
    const e = new ApiError('x', { status: 422, title: "That file couldn't be read as audio.",
      detail: 'upload: could not decode this file as audio (unsupported or corrupt format)' })
    expect(fileErrorMessage('bad.wav', e)).toEqual({
      title: 'bad.wav: Could not decode this file as audio (unsupported or corrupt format)',
      detail: "That file couldn't be read as audio.",
    })
    const offline = new ApiError('x', { title: "Can't reach the envaudio server.", detail: 'Check that `envaudio serve` is running.' })
    expect(fileErrorMessage('a.wav', offline)).toEqual({
      title: "a.wav: Can't reach the envaudio server.", detail: 'Check that `envaudio serve` is running.' })
  })
})
