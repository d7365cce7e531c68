// Perceptual colour maps as 256-entry lookup tables (RGB, Uint8Array of 768).
// Each map is defined by 11 evenly spaced anchor colours sampled from the
// matplotlib originals; the LUT interpolates linearly between them.

export const COLORMAP_ANCHORS = {
  viridis: ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c',
    '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725'],
  magma: ['#000004', '#140e36', '#3b0f70', '#641a80', '#8c2981', '#b73779',
    '#de4968', '#f7705c', '#fe9f6d', '#fecf92', '#fcfdbf'],
}

export function hexToRgb(hex) {
  const h = hex.replace('#', '')
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16))
}

/** Build a LUT of `size` RGB triples from evenly spaced anchor colours. */
export function buildLut(anchors, size = 256) {
  const rgb = anchors.map(hexToRgb)
  const lut = new Uint8Array(size * 3)
  const segments = rgb.length - 1
  for (let i = 0; i < size; i++) {
    const t = size === 1 ? 0 : i / (size - 1)
    const pos = t * segments
    const k = Math.min(segments - 1, Math.floor(pos))
    const f = pos - k
    for (let c = 0; c < 3; c++) {
      lut[i * 3 + c] = Math.round(rgb[k][c] + (rgb[k + 1][c] - rgb[k][c]) * f)
    }
  }
  return lut
}

const cache = new Map()
export function getLut(name = 'magma') {
  if (!cache.has(name)) {
    const anchors = COLORMAP_ANCHORS[name]
    if (!anchors) throw new Error(`unknown colormap ${name}`)
    cache.set(name, buildLut(anchors))
  }
  return cache.get(name)
}

/** LUT index (0..255) of a value in [lo, hi]; clamps outside, NaN -> 0. */
export function valueToIndex(value, lo, hi) {
  if (!Number.isFinite(value) || !(hi > lo)) return 0
  const t = (value - lo) / (hi - lo)
  return Math.max(0, Math.min(255, Math.round(t * 255)))
}

/** CSS colour of a LUT entry. */
export function lutColor(lut, index) {
  const i = Math.max(0, Math.min(lut.length / 3 - 1, Math.round(index)))
  return `rgb(${lut[i * 3]}, ${lut[i * 3 + 1]}, ${lut[i * 3 + 2]})`
}

/** Relative luminance (0..1) of an RGB triple, for tests and contrast choices. */
export function luminance([r, g, b]) {
  const lin = (v) => {
    const s = v / 255
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}
