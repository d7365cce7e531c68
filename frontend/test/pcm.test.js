import { describe, it, expect } from 'vitest'
import { PcmFramer, toFloat32LE, frameSamples } from '../src/lib/pcm.js'

const ramp = (start, n) => Float32Array.from({ length: n }, (_, i) => start + i)

describe('PcmFramer', () => {
  it('turns 128-sample worklet blocks into fixed frames without losing or reordering samples', () => {
    const framer = new PcmFramer(300)
    const frames = []
    for (let b = 0; b < 10; b++) frames.push(...framer.push(ramp(b * 128, 128))) // 1280 samples
    expect(frames).toHaveLength(4) // 4 * 300 = 1200
    frames.forEach((f, k) => {
      expect(f).toHaveLength(300)
      expect(f[0]).toBe(k * 300)
      expect(f[299]).toBe(k * 300 + 299)
    })
    expect(framer.pending).toBe(80)
    const rest = framer.flush()
    expect(Array.from(rest.subarray(0, 3))).toEqual([1200, 1201, 1202])
    expect(rest).toHaveLength(80)
    expect(framer.flush()).toBeNull()
  })

  it('emits several frames from one big block', () => {
    const framer = new PcmFramer(100)
    const frames = framer.push(ramp(0, 250))
    expect(frames.map((f) => f[0])).toEqual([0, 100])
    expect(framer.pending).toBe(50)
  })

  it('never hands out a buffer it keeps writing to', () => {
    const framer = new PcmFramer(4)
    const [a] = framer.push(ramp(0, 4))
    framer.push(ramp(100, 3))
    expect(Array.from(a)).toEqual([0, 1, 2, 3])
  })

  it('sizes frames from the sample rate', () => {
    expect(frameSamples(48000, 0.2)).toBe(9600)
    expect(frameSamples(44100, 0.25)).toBe(11025)
    expect(frameSamples(8000, 0.001)).toBe(128)
  })
})

describe('toFloat32LE', () => {
  const samples = Float32Array.from([0, 1, -0.5, 0.25, 3.5e-5])

  for (const host of [true, false]) {
    it(`writes little-endian float32 (${host ? 'fast path' : 'DataView path'})`, () => {
      const buf = toFloat32LE(samples, host)
      expect(buf).toBeInstanceOf(ArrayBuffer)
      expect(buf.byteLength).toBe(20)
      const view = new DataView(buf)
      samples.forEach((v, i) => expect(view.getFloat32(i * 4, true)).toBe(v))
      // 1.0f little-endian is 00 00 80 3f
      expect(Array.from(new Uint8Array(buf, 4, 4))).toEqual([0x00, 0x00, 0x80, 0x3f])
    })
  }

  it('sends only the view, not the whole underlying buffer', () => {
    const big = ramp(0, 10)
    const buf = toFloat32LE(big.subarray(2, 5))
    expect(buf.byteLength).toBe(12)
    expect(new DataView(buf).getFloat32(0, true)).toBe(2)
  })
})

// The real worklet module, run in Node with the two globals the AudioWorklet scope provides
// (a module runs once: later calls get the class it registered then).
const registered = {}
async function loadWorklet() {
  globalThis.AudioWorkletProcessor = class {
    constructor() {
      this.posted = []
      this.port = { postMessage: (data) => this.posted.push(Float32Array.from(data)) }
    }
  }
  globalThis.registerProcessor = (name, cls) => { registered[name] = cls }
  await import('../src/audio/pcm-capture.worklet.js')
  return registered['pcm-capture']
}

describe('pcm-capture worklet', () => {
  const BATCH = 1024
  const tile = (values) => Float32Array.from({ length: BATCH }, (_, i) => values[i % values.length])

  it('averages channels to mono and posts full batches in order', async () => {
    const Processor = await loadWorklet()
    const p = new Processor()
    // stereo: (1, 0), (0, 0), (-1, 1) repeated -> 0.5, 0, 0
    expect(p.process([[tile([1, 0, -1]), tile([0, 0, 1])]])).toBe(true)
    expect(p.posted).toHaveLength(1)
    expect(Array.from(p.posted[0].subarray(0, 6))).toEqual([0.5, 0, 0, 0.5, 0, 0])
    p.process([[tile([0.25])]]) // mono passes through
    expect(p.posted).toHaveLength(2)
    expect(p.posted[1].every((v) => v === 0.25)).toBe(true)
  })

  it('waits for a full batch, survives inputs without channels, and stops on request', async () => {
    const Processor = await loadWorklet()
    const p = new Processor()
    p.process([[new Float32Array(128)]])
    expect(p.posted).toHaveLength(0) // 128 of 1024
    expect(p.process([[]])).toBe(true)
    expect(p.process([])).toBe(true)
    p.port.onmessage({ data: 'stop' })
    expect(p.process([[new Float32Array(128)]])).toBe(false)
  })
})
