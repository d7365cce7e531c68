import { describe, it, expect } from 'vitest'
import {
  niceStep, linearTicks, timeTicks, dbTicks, hzToMel, melToHz, melBandCenters,
  hzToRow, freqTicks, formatHz, stepDecimals, thinTicks,
} from '../src/lib/ticks.js'

describe('niceStep / linearTicks', () => {
  it('picks 1-2-5 steps', () => {
    expect(niceStep(4, 6)).toBe(1)
    expect(niceStep(10, 6)).toBe(2)
    expect(niceStep(30, 6)).toBe(5)
    expect(niceStep(80, 5)).toBe(20)
    expect(niceStep(2.6, 6)).toBeCloseTo(0.5)
    expect(niceStep(0.9, 6)).toBeCloseTo(0.2)
  })

  it('returns multiples of the step inside the range, without float noise', () => {
    expect(linearTicks(0, 4, 6)).toEqual([0, 1, 2, 3, 4])
    expect(linearTicks(0.3, 1.1, 6)).toEqual([0.4, 0.6, 0.8, 1])
    expect(linearTicks(-80, 0, 5)).toEqual([-80, -60, -40, -20, 0])
    expect(linearTicks(5, 5)).toEqual([5])
    expect(linearTicks(3, 1)).toEqual([])
  })

  it('counts decimals of a step', () => {
    expect(stepDecimals(1)).toBe(0)
    expect(stepDecimals(0.5)).toBe(1)
    expect(stepDecimals(0.05)).toBe(2)
  })
})

describe('timeTicks', () => {
  it('labels a 4 s clip in whole seconds', () => {
    expect(timeTicks(0, 4)).toEqual([
      { value: 0, label: '0' }, { value: 1, label: '1' }, { value: 2, label: '2' },
      { value: 3, label: '3' }, { value: 4, label: '4' },
    ])
  })

  it('labels a window slice with its absolute times and one shared precision', () => {
    const t = timeTicks(2.0, 4.6, 6)
    expect(t.map((x) => x.value)).toEqual([2, 2.5, 3, 3.5, 4, 4.5])
    expect(t.map((x) => x.label)).toEqual(['2.0', '2.5', '3.0', '3.5', '4.0', '4.5'])
  })

  it('keeps the tick count bounded on long files', () => {
    const t = timeTicks(0, 600, 6)
    expect(t.length).toBeLessThanOrEqual(7)
    expect(t[1].value - t[0].value).toBe(100)
  })
})

describe('dbTicks', () => {
  it('covers the colour bar range', () => {
    expect(dbTicks(-80, 0).map((t) => t.label)).toEqual(['-80', '-60', '-40', '-20', '0'])
  })
})

describe('mel scale', () => {
  it('is linear below 1 kHz and logarithmic above (Slaney)', () => {
    expect(hzToMel(1000)).toBeCloseTo(15, 10)
    expect(hzToMel(200)).toBeCloseTo(3, 10)
    expect(hzToMel(6400)).toBeCloseTo(15 + 27, 10)
    for (const hz of [0, 50, 999, 1000, 4321, 11025]) expect(melToHz(hzToMel(hz))).toBeCloseTo(hz, 6)
  })

  it('places band centres strictly inside (fmin, fmax), increasing, evenly in mel', () => {
    const c = melBandCenters(64, 0, 11025)
    expect(c).toHaveLength(64)
    expect(c[0]).toBeGreaterThan(0)
    expect(c[63]).toBeLessThan(11025)
    for (let i = 1; i < 64; i++) expect(c[i]).toBeGreaterThan(c[i - 1])
    const d1 = hzToMel(c[1]) - hzToMel(c[0])
    const d2 = hzToMel(c[63]) - hzToMel(c[62])
    expect(d1).toBeCloseTo(d2, 6)
  })
})

describe('hzToRow', () => {
  const rows = [100, 200, 400, 800]
  it('interpolates between rows', () => {
    expect(hzToRow(100, rows)).toBe(0)
    expect(hzToRow(300, rows)).toBeCloseTo(1.5)
    expect(hzToRow(800, rows)).toBe(3)
  })
  it('is null outside the rows', () => {
    expect(hzToRow(50, rows)).toBeNull()
    expect(hzToRow(900, rows)).toBeNull()
  })
})

describe('freqTicks', () => {
  it('gives round frequencies spread over the mel rows of a 22.05 kHz model', () => {
    const rows = melBandCenters(64, 0, 11025)
    const ticks = freqTicks(rows)
    expect(ticks.map((t) => t.label)).toEqual(['100', '500', '1k', '2k', '5k', '10k'])
    for (let i = 1; i < ticks.length; i++) {
      expect(ticks[i].position - ticks[i - 1].position).toBeGreaterThanOrEqual(64 / 9)
    }
    const k1 = ticks.find((t) => t.value === 1000)
    expect(rows[Math.floor(k1.position)]).toBeLessThanOrEqual(1000)
    expect(rows[Math.ceil(k1.position)]).toBeGreaterThanOrEqual(1000)
  })

  it('respects a custom minimum gap', () => {
    const rows = melBandCenters(128, 0, 8000)
    const dense = freqTicks(rows, { minGapRows: 1 })
    const sparse = freqTicks(rows, { minGapRows: 30 })
    expect(dense.length).toBeGreaterThan(sparse.length)
    expect(dense.map((t) => t.value)).toContain(200)
  })

  it('formats Hz labels', () => {
    expect(formatHz(500)).toBe('500')
    expect(formatHz(2000)).toBe('2k')
    expect(formatHz(1500)).toBe('1.5k')
  })
})

describe('thinTicks', () => {
  it('keeps ticks at least minPx apart, in pixel order', () => {
    const ticks = [0, 3, 10, 12, 30].map((v) => ({ value: v }))
    expect(thinTicks(ticks, (t) => t.value * 2, 15).map((t) => t.value)).toEqual([0, 10, 30])
    expect(thinTicks(ticks, (t) => 100 - t.value, 15).map((t) => t.value)).toEqual([30, 12]) // px 70, 88 (90, 97, 100 too close)
    expect(thinTicks(null, () => 0, 1)).toEqual([])
  })
})
