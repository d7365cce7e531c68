import { describe, expect, it } from 'vitest'
import { describeResult, eventAt, formatDbfs, formatSpan, formatTime } from '../src/lib/events.js'
import { placeLabels, plotInsets } from '../src/lib/draw.js'
import { initialStreamState, isStale, streamReducer } from '../src/lib/stream.js'

const ev = (label, start, end, confidence = 0.8) => ({ label, start, end, confidence })

describe('events', () => {
  it('formats times without needless decimals', () => {
    expect(formatTime(4)).toBe('4')
    expect(formatTime(2.46)).toBe('2.5')
    expect(formatSpan(ev('x', 0, 6))).toBe('0–6 s')
    expect(formatDbfs(-42.4)).toBe('−42 dBFS')
  })

  it('headline: several sounds, each with its time heard (an API without `heard`: from the events)', () => {
    const r = { verdict: 'sound', events: [ev('drilling', 0, 6), ev('dog_bark', 4, 10)], windows: [{}, {}] }
    const d = describeResult(r)
    expect(d).toMatchObject({ kind: 'sounds', title: 'Drilling', detail: 'Heard longest: 6 s, 80% · 2 sounds in all' })
    expect(d.heard.items.map((h) => [h.label, h.seconds])).toEqual([['drilling', 6], ['dog_bark', 6]])
  })

  it('headline: silence with the level, unknown as "Not sure"', () => {
    const s = describeResult({ verdict: 'silence', level_dbfs: -120, events: [] }, { silenceDbfs: -65 })
    expect(s.title).toBe('Nothing heard')
    expect(s.detail).toBe('Level −120 dBFS, below the silence threshold of −65 dBFS.')
    expect(describeResult({ verdict: 'unknown', events: [] }).title).toBe('Not sure')
  })

  it('headline: one sound in a short clip is its label', () => {
    const d = describeResult({ verdict: 'sound', events: [ev('siren', 0, 4, 0.9)], windows: [{}] })
    expect(d).toMatchObject({ kind: 'sound', title: 'Siren', detail: '90%', confidence: 0.9 })
  })

  it('the event at a time is the shortest one holding it (nested events)', () => {
    const music = ev('street_music', 0, 20)
    const horn = ev('car_horn', 10, 11)
    expect(eventAt([music, horn], 10.5)).toBe(horn)
    expect(eventAt([music, horn], 12)).toBe(music)
    expect(eventAt([music, horn], 25)).toBe(null)
  })
})

describe('axes', () => {
  it('the timeline shares the plot insets of the canvas', () => {
    expect(plotInsets(800)).toEqual({ left: 46, right: 62 })
    expect(plotInsets(360)).toEqual({ left: 46, right: 50 })
  })

  it('labels that would touch are dropped (the last one clamped at the edge)', () => {
    const kept = placeLabels([{ x: 0, w: 10 }, { x: 50, w: 10 }, { x: 100, w: 12 }, { x: 104, w: 12 }])
    expect(kept.map((b) => b.x)).toEqual([0, 50, 100])
  })
})

describe('live state', () => {
  it('keeps the level and marks results stale once stopped or disconnected', () => {
    let s = streamReducer(initialStreamState, { type: 'start' })
    s = streamReducer(s, { type: 'open' })
    s = streamReducer(s, { type: 'message', message: { type: 'status', buffered_seconds: 1, window_seconds: 4, current_dbfs: -50 } })
    expect(s.level).toBe(-50)
    s = streamReducer(s, { type: 'message', message: { type: 'prediction', top_prediction: { label: 'siren', confidence: 0.9 }, current_dbfs: -30 } })
    expect(s.level).toBe(-30)
    expect(isStale(s)).toBe(false)
    expect(isStale(streamReducer(s, { type: 'closed', message: 'lost' }))).toBe(true)
    expect(isStale(streamReducer(s, { type: 'stop' }))).toBe(true)
  })
})
