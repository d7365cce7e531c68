// State machine of the live microphone stream (pure; used with React's useReducer).
//
// idle -> requesting (permission) -> connecting -> buffering -> streaming
//   any -> denied | error (fatal, needs a new start)
//   connecting/buffering/streaming -> disconnected (socket closed) -> connecting (retry)

import { formatDbfs } from './events.js'
import { formatPercent } from './format.js'
import { humanizeLabel } from './labels.js'

export const MAX_AUTO_RETRIES = 6

/** Reconnect delay (ms) for the n-th consecutive failed attempt: 1, 2, 4, 8... s, capped. */
export function backoffDelay(attempt, baseMs = 1000, maxMs = 15000) {
  const n = Math.max(0, Math.floor(attempt))
  return Math.min(maxMs, baseMs * 2 ** n)
}

export const initialStreamState = {
  phase: 'idle',
  bufferedSeconds: 0,
  windowSeconds: null,
  message: '',
  retryAt: null,
  attempt: 0,
  prediction: null,
  predictionCount: 0,
  history: [],
  lastError: '',
  level: null, // dBFS of the latest audio (the server's current_dbfs)
  levels: null, // the server's A-weighted levels of the latest hop: {laeq, lamax, laeq_total, unit}
}

const HISTORY = 8

export function streamReducer(state, action) {
  switch (action.type) {
    case 'start':
      return { ...initialStreamState, phase: 'requesting', windowSeconds: state.windowSeconds }
    case 'denied':
      return { ...state, phase: 'denied', message: action.message ?? '' }
    case 'fatal':
      return { ...state, phase: 'error', message: action.message ?? 'The microphone stream failed.' }
    case 'connecting':
      return { ...state, phase: 'connecting', retryAt: null, bufferedSeconds: 0 }
    case 'open':
      return { ...state, phase: 'buffering', attempt: 0, retryAt: null, message: '' }
    case 'message':
      return applyServerMessage(state, action.message)
    case 'closed': {
      if (state.phase === 'idle' || state.phase === 'denied' || state.phase === 'error') return state
      return {
        ...state,
        phase: 'disconnected',
        message: action.message ?? 'The connection to the server was lost.',
        retryAt: action.retryAt ?? null,
        attempt: action.attempt ?? state.attempt,
      }
    }
    case 'stop':
      return { ...state, phase: 'idle', retryAt: null, bufferedSeconds: 0, message: '', level: null, levels: null }
    default:
      return state
  }
}

/** Fold one server message ({type: ready|status|prediction|reset|error}) into the state. */
export function applyServerMessage(state, msg) {
  if (!msg || typeof msg !== 'object') return state
  switch (msg.type) {
    case 'ready':
      return {
        ...state,
        phase: state.phase === 'streaming' ? 'streaming' : 'buffering',
        windowSeconds: num(msg.window_seconds ?? msg.stream_duration ?? msg.duration, state.windowSeconds),
      }
    case 'status':
      return {
        ...state,
        phase: state.phase === 'streaming' ? 'streaming' : 'buffering',
        bufferedSeconds: num(msg.buffered_seconds, state.bufferedSeconds),
        windowSeconds: num(msg.window_seconds, state.windowSeconds),
        level: num(msg.current_dbfs, state.level),
      }
    case 'prediction': {
      const top = msg.top_prediction ?? msg.top_k?.[0] ?? null
      const entry = top ? { label: top.label, confidence: top.confidence, time: msg.time } : null
      return {
        ...state,
        phase: 'streaming',
        prediction: msg,
        predictionCount: state.predictionCount + 1,
        history: entry ? [entry, ...state.history].slice(0, HISTORY) : state.history,
        bufferedSeconds: state.windowSeconds ?? state.bufferedSeconds,
        level: num(msg.current_dbfs, state.level),
        levels: msg.levels && typeof msg.levels === 'object' ? msg.levels : state.levels,
        lastError: '',
      }
    }
    case 'reset':
      return { ...state, phase: 'buffering', bufferedSeconds: 0, prediction: null, history: [] }
    case 'error':
      return { ...state, lastError: String(msg.error ?? msg.detail ?? 'Server error') }
    default:
      return state
  }
}

function num(v, fallback) {
  const n = Number(v)
  return v != null && Number.isFinite(n) ? n : fallback
}

/** Whether the shown prediction is old news: the microphone stopped or the socket dropped. */
export function isStale(state) {
  return state.prediction != null && state.phase !== 'streaming'
}

/** Human text for the current phase. */
export function describePhase(state, now = Date.now()) {
  switch (state.phase) {
    case 'idle':
      return 'Microphone is off.'
    case 'requesting':
      return 'Waiting for permission to use the microphone…'
    case 'denied':
      return state.message || 'Microphone access was blocked. Allow it in the browser’s site settings, then press Start again.'
    case 'connecting':
      return 'Connecting to the server…'
    case 'buffering': {
      const w = state.windowSeconds
      return w ? `Buffering ${state.bufferedSeconds.toFixed(1)} / ${w.toFixed(1)} s of audio…` : 'Buffering audio…'
    }
    case 'streaming':
      return 'Listening. Predictions update as you go.'
    case 'disconnected': {
      if (state.retryAt) {
        const s = Math.max(0, Math.ceil((state.retryAt - now) / 1000))
        return `Disconnected. Retrying in ${s} s…`
      }
      return 'Disconnected from the server.'
    }
    case 'error':
      return state.message || 'The microphone stream failed.'
    default:
      return ''
  }
}

/** What the latest window says: its answer (`top_prediction`), "Nothing heard" or "Not
 *  sure" (the stream's `top_prediction` is null then, as /predict's, and there are no
 *  guesses in silence). */
export function liveHeadline(pred) {
  if (!pred) return null
  if (pred.verdict === 'silence') return { kind: 'silence', title: 'Nothing heard', detail: `Level ${formatDbfs(pred.level_dbfs)}` }
  if (pred.verdict === 'unknown') return { kind: 'unknown', title: 'Not sure', detail: 'Best guesses, greyed:' }
  const top = pred.top_prediction ?? pred.top_k?.[0]
  if (!top) return null
  return { kind: 'sound', title: humanizeLabel(top.label), detail: formatPercent(top.confidence) }
}
