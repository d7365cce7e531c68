import { describe, it, expect } from 'vitest'
import { buildLut, getLut, valueToIndex, hexToRgb, luminance, lutColor, COLORMAP_ANCHORS } from '../src/lib/colormap.js'

const rgbAt = (lut, i) => [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]]

describe('colour LUTs', () => {
  it('has 256 RGB entries with the colormap end points', () => {
    const v = getLut('viridis')
    expect(v).toHaveLength(768)
    expect(rgbAt(v, 0)).toEqual([0x44, 0x01, 0x54])
    expect(rgbAt(v, 255)).toEqual([0xfd, 0xe7, 0x25])
    const m = getLut('magma')
    expect(rgbAt(m, 0)).toEqual([0, 0, 4])
    expect(rgbAt(m, 255)).toEqual([0xfc, 0xfd, 0xbf])
  })

  it('hits each anchor exactly and interpolates between anchors', () => {
    const lut = buildLut(['#000000', '#ff0000', '#ffffff'], 5)
    expect(rgbAt(lut, 0)).toEqual([0, 0, 0])
    expect(rgbAt(lut, 1)).toEqual([128, 0, 0])
    expect(rgbAt(lut, 2)).toEqual([255, 0, 0])
    expect(rgbAt(lut, 3)).toEqual([255, 128, 128])
    expect(rgbAt(lut, 4)).toEqual([255, 255, 255])
  })

  it('is perceptually ordered: luminance increases from quiet to loud', () => {
    for (const name of Object.keys(COLORMAP_ANCHORS)) {
      const lut = getLut(name)
      let prev = -1
      for (let i = 0; i < 256; i += 15) {
        const l = luminance(rgbAt(lut, i))
        expect(l).toBeGreaterThan(prev)
        prev = l
      }
    }
  })

  it('maps values to indices with clamping', () => {
    expect(valueToIndex(-80, -80, 0)).toBe(0)
    expect(valueToIndex(0, -80, 0)).toBe(255)
    expect(valueToIndex(-40, -80, 0)).toBe(128)
    expect(valueToIndex(-200, -80, 0)).toBe(0)
    expect(valueToIndex(10, -80, 0)).toBe(255)
    expect(valueToIndex(NaN, -80, 0)).toBe(0)
    expect(valueToIndex(1, 0, 0)).toBe(0)
  })

  it('converts colours', () => {
    expect(hexToRgb('#fde725')).toEqual([253, 231, 37])
    expect(lutColor(getLut('viridis'), 255)).toBe('rgb(253, 231, 37)')
  })
})
