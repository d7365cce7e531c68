// Microphone PCM framing: the AudioWorklet delivers small blocks (128 samples per
// render quantum, batched a little in the worklet); the WebSocket gets fixed-size
// frames of float32 little-endian mono PCM at the AudioContext's sample rate
// (the server resamples, so the client never does).

/** Frame length in samples for a send interval (e.g. 0.2 s at 48 kHz -> 9600). */
export function frameSamples(sampleRate, seconds = 0.2) {
  return Math.max(128, Math.round(sampleRate * seconds))
}

/** Collects arbitrary-size Float32 blocks into frames of exactly `frameSize` samples. */
export class PcmFramer {
  constructor(frameSize) {
    if (!(frameSize > 0)) throw new Error('frameSize must be positive')
    this.frameSize = frameSize
    this.buffer = new Float32Array(frameSize)
    this.fill = 0
  }

  /** Add a block; returns the frames it completed (each a new Float32Array). */
  push(block) {
    const frames = []
    let i = 0
    while (i < block.length) {
      const n = Math.min(this.frameSize - this.fill, block.length - i)
      this.buffer.set(block.subarray(i, i + n), this.fill)
      this.fill += n
      i += n
      if (this.fill === this.frameSize) {
        frames.push(this.buffer)
        this.buffer = new Float32Array(this.frameSize)
        this.fill = 0
      }
    }
    return frames
  }

  /** The partial frame (copy) and empty the buffer; null when empty. */
  flush() {
    if (this.fill === 0) return null
    const out = this.buffer.slice(0, this.fill)
    this.fill = 0
    return out
  }

  /** Samples waiting for the next frame. */
  get pending() {
    return this.fill
  }
}

export const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Float32 samples -> ArrayBuffer of little-endian float32 (exactly the samples). */
export function toFloat32LE(samples, littleEndianHost = IS_LITTLE_ENDIAN) {
  if (littleEndianHost) {
    return samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength)
  }
  const buf = new ArrayBuffer(samples.length * 4)
  const view = new DataView(buf)
  for (let i = 0; i < samples.length; i++) view.setFloat32(i * 4, samples[i], true)
  return buf
}
