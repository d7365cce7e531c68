import { describe, it, expect } from 'vitest'
import { humanizeLabel, classColor, parseLabels, topKFromProbabilities, CLASS_PALETTE } from '../src/lib/labels.js'
import { formatPercent, formatDuration } from '../src/lib/format.js'

describe('labels', () => {
  it('humanizes label names', () => {
    expect(humanizeLabel('dog_bark')).toBe('Dog bark')
    expect(humanizeLabel('air_conditioner')).toBe('Air conditioner')
    expect(humanizeLabel('street-music')).toBe('Street music')
    expect(humanizeLabel('SIREN')).toBe('Siren')
    expect(humanizeLabel('')).toBe('')
    expect(humanizeLabel(undefined)).toBe('')
  })

  it('gives each class of the model a distinct, order-independent colour', () => {
    const labels = ['air_conditioner', 'car_horn', 'children_playing', 'dog_bark', 'drilling',
      'engine_idling', 'gun_shot', 'jackhammer', 'siren', 'street_music']
    const colors = labels.map((l) => classColor(l, labels))
    expect(new Set(colors).size).toBe(10)
    expect(classColor('siren', labels)).toBe(CLASS_PALETTE[8])
    expect(classColor('unknown_thing', labels)).toBe(classColor('unknown_thing', []))
  })

  it('accepts {labels: [...]} or a plain list', () => {
    expect(parseLabels({ labels: ['a', 'b'] })).toEqual(['a', 'b'])
    expect(parseLabels(['x'])).toEqual(['x'])
    expect(parseLabels({})).toEqual([])
  })

  it('ranks probabilities', () => {
    expect(topKFromProbabilities({ a: 0.1, b: 0.7, c: 0.2 }, 2)).toEqual([
      { label: 'b', confidence: 0.7 }, { label: 'c', confidence: 0.2 },
    ])
  })

  it('formats numbers for people', () => {
    expect(formatPercent(0.873)).toBe('87.3%')
    expect(formatPercent(1)).toBe('100%')
    expect(formatPercent(1.2)).toBe('100%')
    expect(formatDuration(3.5)).toBe('3.5 s')
    expect(formatDuration(125)).toBe('2:05 min')
  })
})
