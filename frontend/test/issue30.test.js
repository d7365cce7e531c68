// Issue #30 (web app): one answer, the API's `top_prediction`; the windows' average is not it;
// one word per window state; the upload hint while the limits load; the live answer.
import { describe, expect, it } from 'vitest'
import { describeResult, heardSounds } from '../src/lib/events.js'
import { fitLabel, labelCandidates } from '../src/lib/labels.js'
import { uploadHint } from '../src/lib/format.js'
import { liveHeadline } from '../src/lib/stream.js'
import { stateRows } from '../src/lib/timeline.js'

const URBAN = ['air_conditioner', 'car_horn', 'children_playing', 'dog_bark', 'drilling',
  'engine_idling', 'gun_shot', 'jackhammer', 'siren', 'street_music']

describe('the answer is the API\'s top_prediction, not the windows\' average', () => {
  // the 42-s file: heard longest air conditioner; the average ranks siren first
  const result = {
    verdict: 'sound',
    top_prediction: { label: 'air_conditioner', confidence: 0.83 },
    heard: [
      { label: 'air_conditioner', seconds: 7.9, peak_confidence: 0.95, confidence: 0.83 },
      { label: 'siren', seconds: 4.4, peak_confidence: 0.9, confidence: 0.79 },
    ],
    top_k: [{ label: 'siren', confidence: 0.278 }, { label: 'street_music', confidence: 0.278 }],
    events: [],
    windows: [{}, {}, {}],
  }

  it('titles the result with the answer, its time and its own confidence', () => {
    const d = describeResult(result)
    expect(d).toMatchObject({ kind: 'sounds', title: 'Air conditioner', label: 'air_conditioner', confidence: 0.83 })
    expect(d.detail).toBe('Heard longest: 7.9 s, 83% · 2 sounds in all')
  })

  it('lists the sounds with the API\'s confidence (the answer\'s number for the first), in its order', () => {
    const h = heardSounds(result)
    expect(h.items).toEqual([
      { label: 'air_conditioner', seconds: 7.9, confidence: 0.83 }, { label: 'siren', seconds: 4.4, confidence: 0.79 }])
    expect(h.items[0].confidence).toBe(result.top_prediction.confidence)
  })

  it('one sound in a long file: its name and time', () => {
    const d = describeResult({ ...result, heard: result.heard.slice(0, 1) })
    expect(d).toMatchObject({ kind: 'sound', title: 'Air conditioner', detail: 'Heard 7.9 s, 83%' })
  })

  it('no answer: says so, never the average\'s first guess', () => {
    const u = describeResult({ ...result, verdict: 'unknown', top_prediction: null, top_prediction_reason: 'nothing heard confidently', heard: [] })
    expect(u.title).toBe('Not sure')
    expect(u.label).toBeUndefined()
  })
})

describe('window names: one word per state, the class\'s full or common short name', () => {
  it('offers at most one short name, a common one, never an abbreviation', () => {
    for (const l of URBAN) {
      const c = labelCandidates(l)
      expect(c.length).toBeLessThanOrEqual(2)
      for (const name of c) expect(name).not.toMatch(/\.$|^[A-Z]{2}$/) // no "Jack.", no "NS"
    }
    expect(labelCandidates('children_playing')).toEqual(['Children playing', 'Children'])
    expect(labelCandidates('street_music')).toEqual(['Street music', 'Music'])
    expect(labelCandidates('air_conditioner')).toEqual(['Air conditioner', 'A/C'])
    expect(labelCandidates('Unsure')).toEqual(['Unsure'])
    expect(labelCandidates('Silence')).toEqual(['Silence'])
    expect(labelCandidates('kettle_boiling')).toEqual(['Kettle boiling', 'Kettle'])
  })

  it('fits the full name, else the short one, else none', () => {
    const measure = (s) => s.length * 7
    expect(fitLabel('street_music', 100, measure)).toBe('Street music')
    expect(fitLabel('street_music', 40, measure)).toBe('Music')
    expect(fitLabel('street_music', 30, measure)).toBe('')
    expect(fitLabel('Unsure', 30, measure)).toBe('')
  })
})

describe('the upload hint', () => {
  it('has one full stop while the limits load, and names them once loaded', () => {
    expect(uploadHint(undefined, undefined)).toBe('WAV, FLAC, MP3, OGG, M4A and more. Long recordings get a timeline.')
    expect(uploadHint(50, 600)).toBe('WAV, FLAC, MP3, OGG, M4A and more, up to 50 MB and 10 min. Long recordings get a timeline.')
    expect(uploadHint(50)).toBe('WAV, FLAC, MP3, OGG, M4A and more, up to 50 MB. Long recordings get a timeline.')
    for (const h of [uploadHint(), uploadHint(50, 600)]) expect(h).not.toMatch(/\.\.|…\./)
  })
})

describe('the live answer', () => {
  it('reads the verdict first: the stream\'s top_prediction is null in silence and when unsure', () => {
    expect(liveHeadline({ verdict: 'silence', top_prediction: null, top_k: [], level_dbfs: -120 }))
      .toEqual({ kind: 'silence', title: 'Nothing heard', detail: 'Level −120 dBFS' })
    expect(liveHeadline({ verdict: 'unknown', top_prediction: null, top_k: [{ label: 'siren', confidence: 0.3 }] }).title)
      .toBe('Not sure')
    expect(liveHeadline({ verdict: 'sound', top_prediction: { label: 'dog_bark', confidence: 0.91 }, top_k: [] }))
      .toEqual({ kind: 'sound', title: 'Dog bark', detail: '91.0%' })
    expect(liveHeadline(null)).toBe(null)
  })
})

describe('a phone\'s timeline, by state', () => {
  it('a row per class in order of appearance, then unsure, then silence', () => {
    const { rows, rowOf } = stateRows(['silence', 'siren', 'unsure', 'siren', 'dog_bark', 'unsure', 'silence'])
    expect(rows).toEqual(['siren', 'dog_bark', 'unsure', 'silence'])
    expect(rowOf.get('dog_bark')).toBe(1)
    expect(stateRows([]).rows).toEqual([])
  })
})
