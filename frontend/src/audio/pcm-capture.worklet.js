// AudioWorklet processor: copies the microphone input (mixed to mono) out of the audio
// thread in small batches. The main thread frames it for the WebSocket (src/lib/pcm.js).
// Loaded with audioWorklet.addModule(new URL('./pcm-capture.worklet.js', import.meta.url)).

const BATCH = 1024 // samples per message (8 render quanta of 128)

class PcmCaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super()
    this.batch = new Float32Array(BATCH)
    this.fill = 0
    this.active = true
    this.port.onmessage = (e) => {
      if (e.data === 'stop') this.active = false
    }
  }

  process(inputs) {
    const channels = inputs[0]
    if (channels && channels.length > 0) {
      const n = channels[0].length
      const count = channels.length
      for (let i = 0; i < n; i++) {
        let v = 0
        for (let c = 0; c < count; c++) v += channels[c][i]
        this.batch[this.fill++] = v / count
        if (this.fill === BATCH) {
          this.port.postMessage(this.batch, [this.batch.buffer])
          this.batch = new Float32Array(BATCH)
          this.fill = 0
        }
      }
    }
    return this.active
  }
}

registerProcessor('pcm-capture', PcmCaptureProcessor)
