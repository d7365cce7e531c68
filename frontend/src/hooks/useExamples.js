import { useCallback, useEffect, useState } from 'react'
import { API_BASE, exampleUrl, parseExamples, request } from '../lib/api.js'

/** GET /examples once the server is up; `load(example)` fetches the clip as a File. */
export function useExamples(enabled, base = API_BASE) {
  const [state, setState] = useState({ examples: [], attribution: '', license: '', error: '' })

  useEffect(() => {
    if (!enabled) return undefined
    const ctrl = new AbortController()
    request('/examples', { base, signal: ctrl.signal })
      .then((payload) => setState({ ...parseExamples(payload), error: '' }))
      .catch((e) => {
        if (e?.name !== 'AbortError') setState((s) => ({ ...s, error: e?.message || 'Examples unavailable.' }))
      })
    return () => ctrl.abort()
  }, [enabled, base])

  const load = useCallback(async (example) => {
    const blob = await request(exampleUrl(example, ''), { base, as: 'blob' })
    return new File([blob], example.file, { type: blob.type || 'audio/flac' })
  }, [base])

  return { ...state, load }
}
