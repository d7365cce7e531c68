import { describe, it, expect } from 'vitest'
import { streamReducer, initialStreamState, backoffDelay, describePhase } from '../src/lib/stream.js'

const run = (actions, state = initialStreamState) => actions.reduce(streamReducer, state)
const msg = (m) => ({ type: 'message', message: m })

describe('backoff', () => {
  it('doubles from 1 s and is capped', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n))).toEqual([1000, 2000, 4000, 8000, 15000, 15000, 15000])
    expect(backoffDelay(2, 500, 10000)).toBe(2000)
  })
})

describe('stream state machine', () => {
  it('goes requesting -> connecting -> buffering (with progress) -> streaming', () => {
    let s = run([{ type: 'start' }])
    expect(s.phase).toBe('requesting')
    s = run([{ type: 'connecting' }, { type: 'open' }, msg({ type: 'ready', window_seconds: 4 })], s)
    expect(s.phase).toBe('buffering')
    s = run([msg({ type: 'status', buffered_seconds: 1.5, window_seconds: 4 })], s)
    expect(s.bufferedSeconds).toBe(1.5)
    expect(describePhase(s)).toBe('Buffering 1.5 / 4.0 s of audio…')
    s = run([msg({ type: 'prediction', time: 4, top_prediction: { label: 'siren', confidence: 0.8 }, top_k: [] })], s)
    expect(s.phase).toBe('streaming')
    expect(s.predictionCount).toBe(1)
    expect(s.history[0]).toEqual({ label: 'siren', confidence: 0.8, time: 4 })
  })

  it('keeps streaming on status messages and records non-fatal errors', () => {
    let s = { ...initialStreamState, phase: 'streaming', windowSeconds: 4 }
    s = run([msg({ type: 'status', buffered_seconds: 4 }), msg({ type: 'error', error: 'bad frame' })], s)
    expect(s.phase).toBe('streaming')
    expect(s.lastError).toBe('bad frame')
  })

  it('limits the history and clears it on reset', () => {
    let s = { ...initialStreamState, phase: 'streaming' }
    for (let i = 0; i < 12; i++) s = streamReducer(s, msg({ type: 'prediction', time: i, top_prediction: { label: `c${i}`, confidence: 0.5 } }))
    expect(s.history).toHaveLength(8)
    expect(s.history[0].label).toBe('c11')
    s = streamReducer(s, msg({ type: 'reset' }))
    expect(s.history).toEqual([])
    expect(s.phase).toBe('buffering')
  })

  it('shows a disconnect with a retry countdown, and ignores closes after stop', () => {
    const s = run([{ type: 'start' }, { type: 'connecting' }, { type: 'open' },
      { type: 'closed', retryAt: 10_000, attempt: 1 }])
    expect(s.phase).toBe('disconnected')
    expect(describePhase(s, 7_500)).toBe('Disconnected. Retrying in 3 s…')
    const stopped = run([{ type: 'stop' }, { type: 'closed' }], s)
    expect(stopped.phase).toBe('idle')
  })

  it('reports permission denial', () => {
    const s = run([{ type: 'start' }, { type: 'denied' }])
    expect(s.phase).toBe('denied')
    expect(describePhase(s)).toMatch(/blocked/)
  })
})

describe('A-weighted levels (issue #28)', () => {
  it('keeps the latest prediction\'s levels for the LAeq meter, and clears them on stop', () => {
    const levels = { laeq: -23.01, lamax: -21.5, laeq_total: -30.2, unit: 'dBFS' }
    let s = run([{ type: 'start' }, { type: 'connecting' }, { type: 'open' }])
    s = run([msg({ type: 'prediction', time: 4, top_k: [], levels })], s)
    expect(s.levels).toEqual(levels)
    s = run([msg({ type: 'prediction', time: 4.5, top_k: [] })], s) // an older server: no levels, the last kept
    expect(s.levels).toEqual(levels)
    s = run([{ type: 'stop' }], s)
    expect(s.levels).toBe(null)
  })
})
