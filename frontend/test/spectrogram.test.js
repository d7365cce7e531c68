import { describe, it, expect } from 'vitest'
import {
  base64ToBytes, byteToDb, normalizeSpectrogram, columnRange, sliceSpectrogram,
  downsampleColumns, spectrogramToRGBA, spectrogramNote,
} from '../src/lib/spectrogram.js'
import { RollingSpectrogram, newColumnCount } from '../src/lib/rolling.js'
import { buildLut } from '../src/lib/colormap.js'

const toB64 = (bytes) => Buffer.from(bytes).toString('base64')

/** n_mels x n_frames, value = row * 10 + col (row 0 = lowest band). */
function makeSpec(nMels = 3, nFrames = 10, extra = {}) {
  const bytes = new Uint8Array(nMels * nFrames)
  for (let r = 0; r < nMels; r++) for (let c = 0; c < nFrames; c++) bytes[r * nFrames + c] = r * 10 + c
  return {
    encoding: 'uint8-base64', data: toB64(bytes), shape: [nMels, nFrames],
    db_min: -80, db_max: 0, sample_rate: 22050, hop_length: 512, frame_seconds: 0.5,
    ...extra,
  }
}

describe('decoding', () => {
  it('decodes base64 to the exact bytes', () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 254, 255])
    expect(Array.from(base64ToBytes(toB64(bytes)))).toEqual([0, 1, 127, 128, 254, 255])
    expect(Array.from(base64ToBytes('AAEC\n/w=='))).toEqual([0, 1, 2, 255])
  })

  it('maps uint8 codes linearly onto [db_min, db_max]', () => {
    expect(byteToDb(0, -80, 0)).toBe(-80)
    expect(byteToDb(255, -80, 0)).toBe(0)
    expect(byteToDb(51, -80, 0)).toBeCloseTo(-64)
  })

  it('normalizes a bare SPEC and a wrapped {spectrogram: SPEC} the same way', () => {
    const a = normalizeSpectrogram(makeSpec())
    const b = normalizeSpectrogram({ spectrogram: makeSpec() })
    expect(a.nMels).toBe(3)
    expect(a.nFrames).toBe(10)
    expect(a.bytes[2 * 10 + 7]).toBe(27)
    expect(Array.from(b.bytes)).toEqual(Array.from(a.bytes))
    expect(a.frameSeconds).toBe(0.5)
    expect(a.ticks).toBeNull()
    expect(a.melFrequencies).toHaveLength(3)
  })

  it('derives frame_seconds from hop_length / sample_rate when absent', () => {
    const s = normalizeSpectrogram(makeSpec(2, 4, { frame_seconds: undefined }))
    expect(s.frameSeconds).toBeCloseTo(512 / 22050, 12)
  })

  it('keeps the server ticks and mel frequencies when sent', () => {
    const s = normalizeSpectrogram(makeSpec(2, 4, {
      mel_frequencies: [100, 900],
      time_ticks: [{ value: 0, label: '0' }],
      freq_ticks: [{ value: 500, position: 0.5, label: '500' }],
    }))
    expect(s.melFrequencies).toEqual([100, 900])
    expect(s.ticks.freq[0].position).toBe(0.5)
    expect(s.ticks.db).toBeNull()
  })

  it('rejects data that does not match the shape, and unknown encodings', () => {
    expect(() => normalizeSpectrogram({ ...makeSpec(), shape: [4, 10] })).toThrow(/expected 4x10/)
    expect(() => normalizeSpectrogram({ ...makeSpec(), encoding: 'float32' })).toThrow(/encoding/)
    expect(() => normalizeSpectrogram(null)).toThrow()
  })
})

describe('column slicing for a window', () => {
  const spec = normalizeSpectrogram(makeSpec(3, 10)) // 0.5 s per column, 5 s total

  it('finds the columns covering [start, end]', () => {
    expect(columnRange(spec, 1, 3)).toEqual([2, 6])
    expect(columnRange(spec, 0, 5)).toEqual([0, 10])
    expect(columnRange(spec, 4.9, 9)).toEqual([9, 10])
    expect(columnRange(spec, 1.2, 1.3)).toEqual([2, 3])
  })

  it('copies exactly those columns of every row and shifts the time origin', () => {
    const s = sliceSpectrogram(spec, 1, 3)
    expect(s.nFrames).toBe(4)
    expect(s.nMels).toBe(3)
    expect(Array.from(s.bytes)).toEqual([2, 3, 4, 5, 12, 13, 14, 15, 22, 23, 24, 25])
    expect(s.timeOffset).toBe(1)
    expect(s.duration).toBe(2)
    expect(spec.bytes[0]).toBe(0) // source untouched
  })

  it('slices relative to an offset spectrogram', () => {
    const s1 = sliceSpectrogram(spec, 1, 4)
    const s2 = sliceSpectrogram(s1, 2, 3)
    expect(Array.from(s2.bytes.subarray(0, 2))).toEqual([4, 5])
    expect(s2.timeOffset).toBe(2)
  })
})

describe('pixels', () => {
  const lut = new Uint8Array(256 * 3)
  for (let i = 0; i < 256; i++) { lut[i * 3] = i; lut[i * 3 + 1] = 255 - i; lut[i * 3 + 2] = 7 }

  it('draws row 0 (lowest band) at the bottom of the image', () => {
    const spec = normalizeSpectrogram(makeSpec(3, 4))
    const px = spectrogramToRGBA(spec, lut)
    expect(px).toHaveLength(3 * 4 * 4)
    const at = (x, y) => Array.from(px.subarray((y * 4 + x) * 4, (y * 4 + x) * 4 + 4))
    expect(at(0, 2)).toEqual([0, 255, 7, 255]) // bottom-left = row 0 col 0 (value 0)
    expect(at(3, 2)).toEqual([3, 252, 7, 255]) // row 0 col 3
    expect(at(1, 0)).toEqual([21, 234, 7, 255]) // top = row 2 col 1 (value 21)
  })

  it('max-pools columns when there are too many to draw', () => {
    const spec = normalizeSpectrogram(makeSpec(2, 10))
    const d = downsampleColumns(spec, 4) // factor 3 -> 4 columns
    expect(d.nFrames).toBe(4)
    expect(Array.from(d.bytes)).toEqual([2, 5, 8, 9, 12, 15, 18, 19])
    expect(d.frameSeconds).toBe(1.5)
    expect(downsampleColumns(spec, 10)).toBe(spec)
  })
})

describe('live rolling spectrogram', () => {
  it('counts new columns from the time advance (the hop)', () => {
    expect(newColumnCount(null, 4, 0.5, 8, 0.5)).toBe(8)
    expect(newColumnCount(4, 4.5, 0.5, 8, 0.5)).toBe(1)
    expect(newColumnCount(4, 6, 0.5, 8, 0.5)).toBe(4)
    expect(newColumnCount(4, 100, 0.5, 8, 0.5)).toBe(8)
    expect(newColumnCount(4, undefined, 0.25, 8, 0.5)).toBe(2) // no time: one hop
    expect(newColumnCount(4, 4.01, 0.5, 8, 0.5)).toBe(1) // always advances
  })

  it('appends only the newest columns of each window and keeps `seconds` of history', () => {
    const lut = buildLut(['#000000', '#ffffff'])
    const roll = new RollingSpectrogram(5) // 10 columns of 0.5 s
    const win = (first) => {
      // 2 mels x 8 frames; column c of this window holds code (first + c) * 10
      const bytes = new Uint8Array(16)
      for (let r = 0; r < 2; r++) for (let c = 0; c < 8; c++) bytes[r * 8 + c] = (first + c) * 10
      return normalizeSpectrogram({ data: toB64(bytes), shape: [2, 8], db_min: 0, db_max: 255, frame_seconds: 0.5 })
    }
    expect(roll.push(win(0), 4, 0.5)).toBe(8)
    expect(roll.columns).toHaveLength(8)
    expect(roll.push(win(1), 4.5, 0.5)).toBe(1) // window advanced by one hop = 1 column
    expect(roll.push(win(3), 5.5, 0.5)).toBe(2)
    expect(roll.columns).toHaveLength(10) // capped at 5 s
    expect(Array.from(roll.columns.map((c) => Math.round(c[0])))).toEqual(
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    )
    expect(roll.endTime).toBe(5.5)
    const px = roll.toRGBA(lut)
    // colour range: the window's 255 dB span, topped by the loudest column (100 dB)
    expect(roll.dbMax).toBe(100)
    expect(roll.dbMin).toBe(-155)
    const o = ((2 - 1) * 10 + 9) * 4 // rightmost column, bottom row: the loudest -> white
    expect(px[o]).toBe(255)
    expect(px[o + 3]).toBe(255)
    const o2 = ((2 - 1) * 10 + 0) * 4 // leftmost column, 10 dB: 165 of 255 steps up
    expect(px[o2]).toBe(165)
  })

  it('joins windows that the server normalised to different levels without a seam', () => {
    // One steady sound; the second window got 6 dB more gain from RMS normalisation
    // (e.g. a loud click left the window), so its codes sit 6 dB higher.
    const roll = new RollingSpectrogram(4)
    const win = (db, gain) => normalizeSpectrogram({
      data: toB64(new Uint8Array(8).fill(db + 80)), shape: [2, 4], db_min: -80, db_max: 175,
      frame_seconds: 1, gain_db: gain,
    })
    roll.push(win(-30, 10), 4, 1)
    roll.push(win(-24, 16), 5, 1)
    const levels = roll.columns.map((c) => Math.round(c[0] * 10) / 10)
    expect(levels).toEqual([-40, -40, -40, -40]) // the input's own level, all alike
    expect(roll.dbMax).toBeCloseTo(-40)
    const px = roll.toRGBA(buildLut(['#000000', '#ffffff']))
    expect(px[0]).toBe(px[3 * 4]) // first and newest column: the same colour
  })

  it('draws digital silence dark, not at the top of a 1-dB colour range', () => {
    const roll = new RollingSpectrogram(4)
    // a flat window at -129.8 dBFS: the server quantizes it to a 1-dB range
    roll.push(normalizeSpectrogram({ data: toB64(new Uint8Array(8)), shape: [2, 4], db_min: -129.8, db_max: -128.8,
      frame_seconds: 1, gain_db: 0 }), 4, 1)
    expect(roll.dbMax).toBe(-40)
    expect(roll.dbMin).toBe(-80)
    const px = roll.toRGBA(buildLut(['#000000', '#ffffff']))
    expect(px[0]).toBe(0)
  })

  it('leaves the not-yet-filled left part transparent', () => {
    const roll = new RollingSpectrogram(10)
    const bytes = new Uint8Array(4).fill(255)
    roll.push(normalizeSpectrogram({ data: toB64(bytes), shape: [1, 4], frame_seconds: 1 }), 4, 1)
    const px = roll.toRGBA(buildLut(['#000000', '#ffffff']))
    expect(px).toHaveLength(10 * 4)
    expect(px[3]).toBe(0) // x=0 empty
    expect(px[9 * 4 + 3]).toBe(255)
  })
})

describe('spectrogramNote', () => {
  const members = [
    { network: 'yamnet', sample_rate: 16000, weight: 0.33 }, { network: 'yamnet', sample_rate: 16000, weight: 0.33 },
    { network: 'cnn', sample_rate: 22050, weight: 0.11 },
  ]
  it('names the CNN view and the other front ends once each', () => {
    const note = spectrogramNote({ n_mels: 64, sample_rate: 22050, spectrogram_source: 'cnn', members })
    expect(note).toBe('64-band log-mel at 22.05 kHz, what the CNN members hear; the YAMNet members (16 kHz) hear their own front end')
  })
  it('names several other front ends', () => {
    const note = spectrogramNote({ n_mels: 64, sample_rate: 22050, spectrogram_source: 'cnn',
      members: [...members, { network: 'beats', sample_rate: 8000, weight: 0.2 }] })
    expect(note).toMatch(/; the YAMNet members \(16 kHz\) and the beats members \(8 kHz\) hear their own front ends$/)
  })
  it("gives the view's own rate, not the rate audio is decoded at", () => {
    const note = spectrogramNote({ n_mels: 64, sample_rate: 32000, spectrogram_sample_rate: 22050, spectrogram_source: 'cnn',
      members: [...members, { network: 'mn04', sample_rate: 32000, weight: 0.33 }] })
    expect(note).toMatch(/^64-band log-mel at 22\.05 kHz, what the CNN members hear; the YAMNet members \(16 kHz\) and the mn04 members \(32 kHz\)/)
  })
  it('says when the view is for display only (no CNN member)', () => {
    const note = spectrogramNote({ n_mels: 64, sample_rate: 22050, spectrogram_source: 'display', members: members.slice(0, 1) })
    expect(note).toMatch(/^64-band log-mel at 22.05 kHz, for display; the YAMNet members \(16 kHz\)/)
  })
  it('is empty before /config has loaded', () => {
    expect(spectrogramNote(null)).toBe('')
    expect(spectrogramNote({})).toBe('')
  })
})
