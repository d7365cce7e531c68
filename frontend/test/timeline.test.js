import { describe, it, expect } from 'vitest'
import { layoutTimeline, legendClasses, nextIndexForKey } from '../src/lib/timeline.js'

const w = (s, e, label = 'siren') => ({ window_start: s, window_end: e, label, confidence: 0.9 })

describe('layoutTimeline', () => {
  it('maps window times to x/width in the given units', () => {
    const { items, lanes } = layoutTimeline([w(0, 4), w(4, 8)], 8, 800)
    expect(lanes).toBe(1)
    expect(items.map((i) => [i.x, i.width, i.lane])).toEqual([[0, 400, 0], [400, 400, 0]])
  })

  it('puts 50%-overlapping windows on alternating lanes', () => {
    const wins = [w(0, 4), w(2, 6), w(4, 8), w(6, 10)]
    const { items, lanes } = layoutTimeline(wins, 10, 100)
    expect(lanes).toBe(2)
    expect(items.map((i) => i.lane)).toEqual([0, 1, 0, 1])
    expect(items[1].x).toBeCloseTo(20)
    expect(items[1].width).toBeCloseTo(40)
  })

  it('handles the extra tail window that ends exactly at the end of the file', () => {
    // 9 s file, 4 s windows hop 2: 0,2,4 and a tail window 5..9
    const wins = [w(0, 4), w(2, 6), w(4, 8), w(5, 9)]
    const { items, lanes } = layoutTimeline(wins, 9, 90)
    expect(lanes).toBe(3) // 4..8 and 5..9 overlap each other and 2..6
    expect(items[3].lane).toBe(2)
    expect(items[3].x + items[3].width).toBeCloseTo(90)
  })

  it('sorts by start time but remembers the original index', () => {
    const { items } = layoutTimeline([w(4, 8, 'b'), w(0, 4, 'a')], 8, 100)
    expect(items.map((i) => [i.index, i.window.label])).toEqual([[1, 'a'], [0, 'b']])
  })

  it('widens tiny windows to a minimum width without leaving the track', () => {
    const { items } = layoutTimeline([w(0, 0.01), w(99.99, 100)], 100, 100, { minWidth: 2 })
    expect(items[0].width).toBe(2)
    expect(items[1].x + items[1].width).toBeCloseTo(100)
  })

  it('is empty for no windows', () => {
    expect(layoutTimeline([], 10)).toEqual({ items: [], lanes: 0 })
  })
})

describe('legend and keyboard', () => {
  it('lists classes once, in order of appearance', () => {
    expect(legendClasses([w(0, 4, 'siren'), w(2, 6, 'dog_bark'), w(4, 8, 'siren')])).toEqual(['siren', 'dog_bark'])
  })

  it('moves the selection with arrows, Home and End, clamped', () => {
    expect(nextIndexForKey('ArrowRight', 0, 3)).toBe(1)
    expect(nextIndexForKey('ArrowRight', 2, 3)).toBe(2)
    expect(nextIndexForKey('ArrowLeft', 0, 3)).toBe(0)
    expect(nextIndexForKey('ArrowLeft', null, 3)).toBe(0)
    expect(nextIndexForKey('End', 0, 3)).toBe(2)
    expect(nextIndexForKey('Home', 2, 3)).toBe(0)
    expect(nextIndexForKey('a', 1, 3)).toBeNull()
  })
})
