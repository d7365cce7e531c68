import { useCallback, useEffect, useReducer, useRef } from 'react'
import { API_BASE, wsUrl } from '../lib/api.js'
import { PcmFramer, frameSamples, toFloat32LE } from '../lib/pcm.js'
import { normalizeSpectrogram } from '../lib/spectrogram.js'
import { RollingSpectrogram } from '../lib/rolling.js'
import { MAX_AUTO_RETRIES, backoffDelay, initialStreamState, streamReducer } from '../lib/stream.js'

const WORKLET_URL = new URL('../audio/pcm-capture.worklet.js', import.meta.url)
const SEND_SECONDS = 0.2 // one WebSocket frame every 200 ms
const MAX_BUFFERED_BYTES = 2 * 1024 * 1024 // drop audio rather than queue seconds of lag

/** Microphone -> AudioWorklet -> float32 frames -> WS /ws/predict -> live predictions.
 *  The microphone keeps running while the socket reconnects (with backoff). */
export function useMicStream({ base = API_BASE, topK = 5, historySeconds = 8, hopSeconds = 0.5 } = {}) {
  const [state, dispatch] = useReducer(streamReducer, initialStreamState)
  const rolling = useRef(new RollingSpectrogram(historySeconds))
  const r = useRef({ running: false, ws: null, ctx: null, media: null, node: null, framer: null, timer: null, attempt: 0 })

  const closeSocket = () => {
    const ws = r.current.ws
    r.current.ws = null
    if (ws) {
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, 'client stop')
    }
  }

  const connect = useCallback(() => {
    const cur = r.current
    clearTimeout(cur.timer)
    closeSocket()
    if (!cur.running || !cur.ctx) return
    dispatch({ type: 'connecting' })
    let ws
    try {
      ws = new WebSocket(wsUrl(base))
    } catch (e) {
      dispatch({ type: 'fatal', message: `Could not open the stream: ${e.message}` })
      return
    }
    ws.binaryType = 'arraybuffer'
    cur.ws = ws
    cur.framer = new PcmFramer(frameSamples(cur.ctx.sampleRate, SEND_SECONDS))
    rolling.current.reset()
    ws.onopen = () => {
      ws.send(JSON.stringify({ sample_rate: cur.ctx.sampleRate, top_k: topK }))
      cur.attempt = 0
      dispatch({ type: 'open' })
    }
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return
      let msg
      try {
        msg = JSON.parse(ev.data)
      } catch {
        return
      }
      if (msg.type === 'prediction' && msg.spectrogram) {
        try {
          rolling.current.push(normalizeSpectrogram(msg.spectrogram), Number(msg.time), hopSeconds)
        } catch {
          /* a bad spectrogram must not stop the predictions */
        }
      } else if (msg.type === 'reset') {
        rolling.current.reset()
      }
      dispatch({ type: 'message', message: msg })
    }
    ws.onclose = (ev) => {
      if (cur.ws !== ws) return
      cur.ws = null
      if (!cur.running) return
      const reason = ev.reason ? `The server closed the stream: ${ev.reason}` : 'The connection to the server was lost.'
      if (cur.attempt < MAX_AUTO_RETRIES) {
        const delay = backoffDelay(cur.attempt)
        cur.attempt += 1
        cur.timer = setTimeout(connect, delay)
        dispatch({ type: 'closed', message: reason, retryAt: Date.now() + delay, attempt: cur.attempt })
      } else {
        dispatch({ type: 'closed', message: reason, retryAt: null, attempt: cur.attempt })
      }
    }
  }, [base, topK, hopSeconds])

  const onAudio = useCallback((block) => {
    const cur = r.current
    const ws = cur.ws
    if (!ws || ws.readyState !== WebSocket.OPEN || !cur.framer) return
    for (const frame of cur.framer.push(block)) {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) continue
      ws.send(toFloat32LE(frame))
    }
  }, [])

  const teardownAudio = () => {
    const cur = r.current
    try {
      cur.node?.port.postMessage('stop')
      cur.node?.disconnect()
    } catch {
      /* already gone */
    }
    cur.media?.getTracks().forEach((t) => t.stop())
    if (cur.ctx && cur.ctx.state !== 'closed') cur.ctx.close().catch(() => {})
    cur.node = cur.media = cur.ctx = null
  }

  const stop = useCallback(() => {
    const cur = r.current
    cur.running = false
    clearTimeout(cur.timer)
    closeSocket()
    teardownAudio()
    dispatch({ type: 'stop' })
  }, [])

  const start = useCallback(async () => {
    const cur = r.current
    if (cur.running) return
    cur.running = true
    cur.attempt = 0
    dispatch({ type: 'start' })
    if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === 'undefined') {
      cur.running = false
      dispatch({
        type: 'fatal',
        message: window.isSecureContext === false
          ? 'The microphone needs a secure page: open this app over https:// or on localhost.'
          : 'This browser cannot capture audio (no getUserMedia / AudioWorklet).',
      })
      return
    }
    let media
    try {
      media = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      })
    } catch (e) {
      cur.running = false
      if (e?.name === 'NotAllowedError' || e?.name === 'SecurityError') {
        dispatch({ type: 'denied' })
      } else if (e?.name === 'NotFoundError' || e?.name === 'OverconstrainedError') {
        dispatch({ type: 'fatal', message: 'No microphone was found. Plug one in and try again.' })
      } else {
        dispatch({ type: 'fatal', message: `The microphone could not be opened (${e?.message || e?.name}).` })
      }
      return
    }
    if (!cur.running) { // stopped while the permission prompt was open
      media.getTracks().forEach((t) => t.stop())
      return
    }
    try {
      const ctx = new AudioContext({ latencyHint: 'interactive' })
      cur.ctx = ctx
      cur.media = media
      await ctx.audioWorklet.addModule(WORKLET_URL)
      if (!cur.running) return
      const source = ctx.createMediaStreamSource(media)
      const node = new AudioWorkletNode(ctx, 'pcm-capture', {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      })
      node.port.onmessage = (e) => onAudio(e.data)
      const mute = ctx.createGain()
      mute.gain.value = 0 // keep the graph pulled without playing the mic back
      source.connect(node).connect(mute).connect(ctx.destination)
      cur.node = node
      if (ctx.state === 'suspended') await ctx.resume()
    } catch (e) {
      cur.running = false
      teardownAudio()
      dispatch({ type: 'fatal', message: `Audio capture failed to start (${e?.message || e}).` })
      return
    }
    connect()
  }, [connect, onAudio])

  const reconnect = useCallback(() => {
    r.current.attempt = 0
    connect()
  }, [connect])

  const resetBuffer = useCallback(() => {
    const ws = r.current.ws
    if (ws && ws.readyState === WebSocket.OPEN) ws.send('reset')
  }, [])

  useEffect(() => () => {
    r.current.running = false
    clearTimeout(r.current.timer)
    closeSocket()
    teardownAudio()
  }, [])

  return { state, rolling: rolling.current, start, stop, reconnect, resetBuffer }
}
