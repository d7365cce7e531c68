import { describe, it, expect } from 'vitest'
import { humanizeLabel, classColor, parseLabels, topKFromProbabilities, CLASS_PALETTE, examplesForLabels, modelSummary } from '../src/lib/labels.js'
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

  it('keeps a custom model\'s names: unicode, capitals, long', () => {
    expect(humanizeLabel('chirp ↗')).toBe('Chirp ↗')
    expect(humanizeLabel('Mr Whiskers')).toBe('Mr Whiskers')
    expect(humanizeLabel('kettle_boiling')).toBe('Kettle boiling')
    expect(humanizeLabel('noise burst — long label for the legend')).toBe('Noise burst — long label for the legend')
  })

  it('gives every class of a model with more classes than the palette its own colour', () => {
    const labels = Array.from({ length: 30 }, (_, i) => `class_${i}`)
    const colors = labels.map((l) => classColor(l, labels))
    expect(new Set(colors).size).toBe(30)
    expect(classColor('class_3', labels)).toBe(CLASS_PALETTE[3])
    expect(classColor('class_29', labels)).toMatch(/^hsl\(/)
  })

  it('offers only the examples of the model\'s classes', () => {
    const examples = [{ file: 'a.flac', label: 'siren' }, { file: 'b.flac', label: 'dog_bark' }]
    expect(examplesForLabels(examples, ['siren', 'car_horn'])).toEqual([examples[0]])
    expect(examplesForLabels(examples, ['tone', 'chirp ↗'])).toEqual([])
    expect(examplesForLabels(examples, [])).toEqual(examples) // labels not loaded yet
  })

  it('summarises the model for the header', () => {
    expect(modelSummary(10, { dataset: 'UrbanSound8K' })).toBe('10 UrbanSound8K classes')
    expect(modelSummary(3, { dataset: 'my_sounds' })).toBe('3 classes · custom model (my_sounds)')
    expect(modelSummary(4, {})).toBe('4 classes')
    expect(modelSummary(0, null)).toBe('')
  })
})
