import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import {
  resolveApiBase, wsUrl, apiUrl, describeHttpError, detailText, predictFile, request,
  parseExamples, exampleUrl, ApiError,
} from '../src/lib/api.js'

describe('API base and WebSocket URL', () => {
  it('uses VITE_API_BASE when set, else localhost:8000 in dev and same origin in a build', () => {
    expect(resolveApiBase({ VITE_API_BASE: 'https://api.example.org/', DEV: true })).toBe('https://api.example.org')
    expect(resolveApiBase({ DEV: true })).toBe('http://127.0.0.1:8000')
    expect(resolveApiBase({ DEV: false })).toBe('')
    expect(resolveApiBase({ VITE_API_BASE: '  ', DEV: false })).toBe('')
  })

  it('derives ws:// or wss:// from the base', () => {
    const loc = { protocol: 'https:', host: 'envaudio.example:8443' }
    expect(wsUrl('', loc)).toBe('wss://envaudio.example:8443/ws/predict')
    expect(wsUrl('', { protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/ws/predict')
    expect(wsUrl('http://127.0.0.1:8000', loc)).toBe('ws://127.0.0.1:8000/ws/predict')
    expect(wsUrl('https://api.example.org/v1', loc)).toBe('wss://api.example.org/v1/ws/predict')
    expect(wsUrl('/api', { protocol: 'http:', host: 'h:1' })).toBe('ws://h:1/api/ws/predict')
  })

  it('joins paths', () => {
    expect(apiUrl('/health', '')).toBe('/health')
    expect(apiUrl('config', 'http://h')).toBe('http://h/config')
    expect(exampleUrl({ file: 'a b.flac' }, '')).toBe('/examples/a%20b.flac')
  })
})

describe('error messages', () => {
  it('explains a 413 with the limit', () => {
    const e = describeHttpError(413, 'File is larger than 50 MB', { maxUploadMb: 50 })
    expect(e.title).toBe('That file is too large (the limit is 50 MB).')
    expect(e.detail).toBe('File is larger than 50 MB')
  })

  it('says "too long", not "too large", when the duration limit refused the file', () => {
    const detail = 'the audio is longer than the limit of 600 s (MAX_AUDIO_SECONDS)'
    const e = describeHttpError(413, detail, { maxUploadMb: 50, maxAudioSeconds: 600 })
    expect(e.title).toBe('That recording is too long (the limit is 10 min).')
    expect(e.title).not.toMatch(/large|MB/)
    expect(e.detail).toBe(detail)
    expect(describeHttpError(413, detail, { maxUploadMb: 50 }).title).toBe('That recording is too long.')
    expect(describeHttpError(413, 'the audio is longer than the limit of 90 s (MAX_AUDIO_SECONDS)',
      { maxAudioSeconds: 90 }).title).toBe('That recording is too long (the limit is 90 s).')
    // the size limit keeps its own headline
    const size = describeHttpError(413, 'the upload is larger than the limit of 50 MB (MAX_UPLOAD_MB)',
      { maxUploadMb: 50, maxAudioSeconds: 600 })
    expect(size.title).toBe('That file is too large (the limit is 50 MB).')
  })

  it('explains a busy or restarting server and a slow upload', () => {
    expect(describeHttpError(503, 'the server is shutting down; try again in a moment').title)
      .toBe('The server is busy or restarting. Please try again in a moment.')
    expect(describeHttpError(408, 'the upload was not received within 60 s (UPLOAD_TIMEOUT_SECONDS)').title)
      .toBe('The upload took too long. Please try again.')
  })

  it('explains undecodable audio and keeps the server detail', () => {
    const e = describeHttpError(400, 'Could not decode audio: invalid data')
    expect(e.title).toMatch(/couldn't be read as audio/)
    expect(e.detail).toBe('Could not decode audio: invalid data')
  })

  it('flattens FastAPI validation errors', () => {
    expect(detailText([{ loc: ['body', 'file'], msg: 'Field required' }, { msg: 'x' }])).toBe('Field required; x')
    expect(detailText(null)).toBe('')
  })
})

describe('HTTP client against a mock server', () => {
  let server
  let base
  const seen = []

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = Buffer.alloc(0)
      req.on('data', (c) => { body = Buffer.concat([body, c]) })
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'] ?? '', body: body.toString('latin1') })
        res.setHeader('content-type', 'application/json')
        if (req.url.startsWith('/predict') && body.includes('TOOBIG')) {
          res.statusCode = 413
          res.end(JSON.stringify({ detail: 'Upload exceeds 1 MB' }))
        } else if (req.url.startsWith('/predict') && body.includes('TOOLONG')) {
          res.statusCode = 413
          res.end(JSON.stringify({ detail: 'the audio is longer than the limit of 600 s (MAX_AUDIO_SECONDS)' }))
        } else if (req.url.startsWith('/predict') && body.includes('NOISE')) {
          res.statusCode = 415
          res.end(JSON.stringify({ detail: 'Could not decode audio' }))
        } else if (req.url.startsWith('/predict')) {
          res.end(JSON.stringify({ top_prediction: { label: 'siren', confidence: 0.9 }, top_k: [] }))
        } else if (req.url === '/boom') {
          res.statusCode = 500
          res.setHeader('content-type', 'text/plain')
          res.end('Internal Server Error')
        } else {
          res.end(JSON.stringify({ status: 'ok' }))
        }
      })
    })
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${server.address().port}`
  })

  afterAll(() => new Promise((r) => server.close(r)))

  it('posts the file as multipart field "file" with top_k', async () => {
    const file = new File([new Uint8Array([82, 73, 70, 70])], 'clip.wav', { type: 'audio/wav' })
    const out = await predictFile(file, { base, topK: 3 })
    expect(out.top_prediction.label).toBe('siren')
    const last = seen.at(-1)
    expect(last.method).toBe('POST')
    expect(last.url).toBe('/predict?top_k=3')
    expect(last.type).toMatch(/^multipart\/form-data; boundary=/)
    expect(last.body).toMatch(/name="file"; filename="clip.wav"/)
    expect(last.body).toContain('RIFF')
  })

  it('turns 413 and 415 into ApiErrors a person understands', async () => {
    const big = new File(['TOOBIG'], 'big.wav')
    await expect(predictFile(big, { base, maxUploadMb: 1 })).rejects.toMatchObject({
      name: 'ApiError', status: 413, title: 'That file is too large (the limit is 1 MB).', detail: 'Upload exceeds 1 MB',
    })
    const long = new File(['TOOLONG'], 'long.m4a')
    await expect(predictFile(long, { base, maxUploadMb: 1, maxAudioSeconds: 600 })).rejects.toMatchObject({
      status: 413, title: 'That recording is too long (the limit is 10 min).',
    })
    const bad = new File(['NOISE'], 'bad.wav')
    const err = await predictFile(bad, { base }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.message).toBe("That file couldn't be read as audio. Could not decode audio")
  })

  it('handles non-JSON error bodies and unreachable servers', async () => {
    await expect(request('/boom', { base })).rejects.toMatchObject({ status: 500, detail: 'Internal Server Error' })
    await expect(request('/health', { base: 'http://127.0.0.1:9' })).rejects.toMatchObject({
      title: "Can't reach the envaudio server.",
    })
  })
})

describe('examples payload', () => {
  it('accepts the object form and a bare list', () => {
    const p = parseExamples({ attribution: 'A', license: 'CC', examples: [{ file: 'x.flac', label: 'siren' }, {}] })
    expect(p).toEqual({ attribution: 'A', license: 'CC', examples: [{ file: 'x.flac', label: 'siren' }] })
    const l = parseExamples([{ file: 'y.flac', attribution: 'From UrbanSound8K', license: 'CC BY-NC 3.0' }, { file: 'z.flac' }])
    expect(l.examples).toHaveLength(2)
    expect(l.attribution).toBe('From UrbanSound8K')
    expect(l.license).toBe('CC BY-NC 3.0')
  })
})
