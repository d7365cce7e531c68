import { useCallback, useEffect, useRef, useState } from 'react'
import { API_BASE, fileErrorMessage, predictFile, spectrogramFile } from '../lib/api.js'
import { normalizeSpectrogram } from '../lib/spectrogram.js'
import { formatBytes } from '../lib/format.js'

const initial = { status: 'idle', result: null, spec: null, specError: '', error: null, source: null }

/** Upload flow: POST /predict with the file, decode the spectrogram it returns.
 *  `classify(file, {autoplay, origin})` is used by uploads, drops and examples alike.
 *  A failed upload keeps the last good result on screen (and its audio): only the error is
 *  new, "<file name>: <message>". */
export function useClassifier({ base = API_BASE, maxUploadMb, maxAudioSeconds, topK = 5 } = {}) {
  const [state, setState] = useState(initial)
  const ctrlRef = useRef(null)
  const lastGood = useRef(null) // {result, spec, specError, source} of the last success

  useEffect(() => () => {
    ctrlRef.current?.abort()
    if (lastGood.current?.source?.url) URL.revokeObjectURL(lastGood.current.source.url)
  }, [])

  /** Show an error over the last good result (or over nothing). */
  const showError = useCallback((error) => {
    const good = lastGood.current
    setState(good
      ? { ...good, source: { ...good.source, autoplay: false }, status: 'error', error }
      : { ...initial, status: 'error', error })
  }, [])

  const fail = useCallback((title, detail = '') => showError({ title, detail }), [showError])

  const classify = useCallback(async (file, { autoplay = false, origin = 'upload', label } = {}) => {
    if (!file) return
    ctrlRef.current?.abort()
    const name = file.name || 'The file'
    if (file.size === 0) {
      showError({ title: `${name}: The file is empty.`, detail: '' })
      return
    }
    if (maxUploadMb && file.size > maxUploadMb * 1024 * 1024) {
      showError({ title: `${name}: The file is ${formatBytes(file.size)}; the limit is ${maxUploadMb} MB.`, detail: '' })
      return
    }
    const url = URL.createObjectURL(file)
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
      if (ctrl.signal.aborted) {
        URL.revokeObjectURL(url)
        return
      }
      const previous = lastGood.current?.source?.url
      if (previous && previous !== url) URL.revokeObjectURL(previous)
      lastGood.current = { result, spec, specError, source }
      setState({ status: 'done', result, spec, specError, error: null, source })
    } catch (e) {
      URL.revokeObjectURL(url)
      if (e?.name === 'AbortError' || ctrl.signal.aborted) return
      showError(fileErrorMessage(file.name, e))
    }
  }, [base, maxUploadMb, maxAudioSeconds, topK, showError])

  return { ...state, classify, fail }
}
