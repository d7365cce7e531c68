// HTTP/WebSocket access to the envaudio API.

import { formatLimit, sentence } from './format.js'

/** API base URL without trailing slash. '' means same origin (the production build is
 *  served by `envaudio serve`); in `npm run dev` it defaults to the local API server. */
export function resolveApiBase(env = {}) {
  const v = env.VITE_API_BASE
  if (typeof v === 'string' && v.trim() !== '') return v.trim().replace(/\/+$/, '')
  return env.DEV ? 'http://127.0.0.1:8000' : ''
}

export const API_BASE = resolveApiBase(import.meta.env ?? {})

export function apiUrl(path, base = API_BASE) {
  return `${base}${path.startsWith('/') ? '' : '/'}${path}`
}

/** ws:// or wss:// URL of the streaming endpoint, derived from the API base. */
export function wsUrl(base = API_BASE, location = globalThis.location, path = '/ws/predict') {
  if (/^https?:\/\//i.test(base)) return base.replace(/^http/i, 'ws') + path
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${proto}//${location.host}${base}${path}`
}

export class ApiError extends Error {
  constructor(message, { status = 0, detail = '', title = '' } = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.detail = detail
    this.title = title
  }
}

/** FastAPI's `detail` is a string, or a list of {msg, loc} for validation errors. */
export function detailText(detail) {
  if (detail == null) return ''
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) {
    return detail.map((d) => (typeof d === 'string' ? d : d?.msg ?? JSON.stringify(d))).join('; ')
  }
  if (typeof detail === 'object') return detail.message ?? detail.msg ?? JSON.stringify(detail)
  return String(detail)
}

/** Whether a 413's detail refuses the audio's duration (MAX_AUDIO_SECONDS), not the file's size. */
export function isDurationLimit(detail) {
  return /MAX_AUDIO_SECONDS|longer than/i.test(detail)
}

/** A title a person understands for an HTTP failure, plus the server's detail. */
export function describeHttpError(status, detail, { maxUploadMb, maxAudioSeconds } = {}) {
  const d = detailText(detail)
  let title
  if (status === 413 && isDurationLimit(d)) {
    title = maxAudioSeconds
      ? `That recording is too long (the limit is ${formatLimit(maxAudioSeconds)}).`
      : 'That recording is too long.'
  } else if (status === 413) {
    title = maxUploadMb ? `That file is too large (the limit is ${maxUploadMb} MB).` : 'That file is too large.'
  } else if (status === 408) {
    title = 'The upload took too long. Please try again.'
  } else if (status === 415 || status === 400 || status === 422) {
    title = "That file couldn't be read as audio."
  } else if (status === 404) {
    title = 'Not found on the server.'
  } else if (status === 429 || status === 503) {
    title = 'The server is busy or restarting. Please try again in a moment.'
  } else if (status >= 500) {
    title = 'The server ran into a problem analysing this file.'
  } else if (status >= 400) {
    title = 'The request was rejected.'
  } else {
    title = 'Something went wrong.'
  }
  return { title, detail: d && d !== title ? d : '' }
}

async function readError(res, opts) {
  let detail = ''
  try {
    const text = await res.text()
    try {
      const body = JSON.parse(text)
      detail = body?.detail ?? body?.error ?? body?.message ?? ''
    } catch {
      detail = text.length < 300 ? text : ''
    }
  } catch {
    /* body unreadable */
  }
  const { title, detail: d } = describeHttpError(res.status, detail, opts)
  return new ApiError(d ? `${title} ${d}` : title, { status: res.status, detail: d, title })
}

export async function request(path, { base = API_BASE, signal, method = 'GET', body, maxUploadMb, maxAudioSeconds, as = 'json' } = {}) {
  let res
  try {
    res = await fetch(apiUrl(path, base), { method, body, signal })
  } catch (e) {
    if (e?.name === 'AbortError') throw e
    const where = base || 'this site'
    throw new ApiError(`Can't reach the envaudio server (${where}).`, {
      title: "Can't reach the envaudio server.",
      detail: 'Check that `envaudio serve` is running, then try again.',
    })
  }
  if (!res.ok) throw await readError(res, { maxUploadMb, maxAudioSeconds })
  if (as === 'blob') return res.blob()
  return res.json()
}

export function predictFile(file, { topK = 5, base, signal, maxUploadMb, maxAudioSeconds, filename } = {}) {
  const form = new FormData()
  form.append('file', file, filename ?? file.name ?? 'audio')
  return request(`/predict?top_k=${topK}`, { base, signal, method: 'POST', body: form, maxUploadMb, maxAudioSeconds })
}

export function spectrogramFile(file, { base, signal, maxUploadMb, maxAudioSeconds, filename } = {}) {
  const form = new FormData()
  form.append('file', file, filename ?? file.name ?? 'audio')
  return request('/spectrogram', { base, signal, method: 'POST', body: form, maxUploadMb, maxAudioSeconds })
}

/** {attribution, license, examples: [{file, label, source, url, ...}]}. A bare list is
 *  accepted too; then attribution/license come from the items (the first one that has it). */
export function parseExamples(payload) {
  const isList = Array.isArray(payload)
  const list = (isList ? payload : payload?.examples ?? []).filter((e) => e && e.file)
  const fromItems = (key) => list.find((e) => typeof e[key] === 'string' && e[key])?.[key] ?? ''
  return {
    attribution: (!isList && payload?.attribution) || fromItems('attribution'),
    license: (!isList && payload?.license) || fromItems('license'),
    examples: list,
  }
}

/** Where the example's audio is served: GET /examples/{file}. */
export function exampleUrl(example, base = API_BASE) {
  return apiUrl(`/examples/${encodeURIComponent(example.file)}`, base)
}

/** A server message without the server's internal prefixes ("upload: could not decode ..."
 *  -> "Could not decode ..."; the file's own name too, which the caller puts first). */
export function cleanDetail(detail, name = '') {
  let d = String(detail ?? '').trim()
  for (let i = 0; i < 3; i++) {
    if (name && d.startsWith(`${name}:`)) {
      d = d.slice(name.length + 1).trim()
      continue
    }
    const m = d.match(/^([a-z][a-z_]*):\s+/)
    if (!m) break
    d = d.slice(m[0].length)
  }
  return sentence(d)
}

/** {title: "<file name>: <readable message>", detail} for a failed upload. */
export function fileErrorMessage(name, error) {
  const file = name || 'The file'
  const said = error?.status ? cleanDetail(error.detail, name) : ''
  if (said) return { title: `${file}: ${said}`, detail: error.title && error.title !== said ? error.title : '' }
  const title = error?.title || error?.message || 'Something went wrong.'
  return { title: `${file}: ${cleanDetail(title, name) || title}`, detail: error?.title ? error.detail || '' : '' }
}
