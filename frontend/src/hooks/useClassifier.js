import { useCallback, useEffect, useRef, useState } from 'react'
import { API_BASE, predictFile, spectrogramFile } from '../lib/api.js'
import { normalizeSpectrogram } from '../lib/spectrogram.js'
import { formatBytes } from '../lib/format.js'

const initial = { status: 'idle', result: null, spec: null, specError: '', error: null, source: null }

/** Upload flow: POST /predict with the file, decode the spectrogram it returns.
 *  `classify(file, {autoplay, origin})` is used by uploads, drops and examples alike. */
export function useClassifier({ base = API_BASE, maxUploadMb, maxAudioSeconds, topK = 5 } = {}) {
  const [state, setState] = useState(initial)
  const ctrlRef = useRef(null)
  const urlRef = useRef(null)

  useEffect(() => () => {
    ctrlRef.current?.abort()
    if (urlRef.current) URL.revokeObjectURL(urlRef.current)
  }, [])

  const fail = useCallback((title, detail = '') => {
    setState((s) => ({ ...s, status: 'error', error: { title, detail } }))
  }, [])

  const classify = useCallback(async (file, { autoplay = false, origin = 'upload', label } = {}) => {
    if (!file) return
    ctrlRef.current?.abort()
    if (file.size === 0) {
      fail('That file is empty.', `${file.name || 'The file'} has no data.`)
      return
    }
    if (maxUploadMb && file.size > maxUploadMb * 1024 * 1024) {
      fail(`That file is too large (the limit is ${maxUploadMb} MB).`,
        `${file.name || 'The file'} is ${formatBytes(file.size)}.`)
      return
    }
    if (urlRef.current) URL.revokeObjectURL(urlRef.current)
    const url = URL.createObjectURL(file)
    urlRef.current = url
    const ctrl = new AbortController()
    ctrlRef.current = ctrl
    const source = { name: file.name || 'audio', size: file.size, url, autoplay, origin, label, id: Date.now() }
    setState({ ...initial, status: 'loading', source })
    try {
      const limits = { maxUploadMb, maxAudioSeconds }
      const result = await predictFile(file, { base, topK, signal: ctrl.signal, ...limits })
      let spec = null
      let specError = ''
      try {
        const raw = result.spectrogram ?? (await spectrogramFile(file, { base, signal: ctrl.signal, ...limits }))
        spec = normalizeSpectrogram(raw)
      } catch (e) {
        if (e?.name === 'AbortError') throw e
        specError = e?.message || 'The spectrogram could not be drawn.'
      }
      if (ctrl.signal.aborted) return
      setState({ status: 'done', result, spec, specError, error: null, source })
    } catch (e) {
      if (e?.name === 'AbortError' || ctrl.signal.aborted) return
      setState({
        ...initial,
        status: 'error',
        source,
        error: { title: e?.title || e?.message || 'Something went wrong.', detail: e?.title ? e.detail : '' },
      })
    }
  }, [base, maxUploadMb, maxAudioSeconds, topK, fail])

  return { ...state, classify, fail }
}
