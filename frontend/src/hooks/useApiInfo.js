import { useEffect, useState } from 'react'
import { API_BASE, apiUrl, request } from '../lib/api.js'
import { parseLabels } from '../lib/labels.js'

/** Server status (checking | starting | online | offline), /config and the label list.
 *  Polls /health (quickly until the model is loaded, then every 20 s so the header
 *  notices a server that went away); /config and /labels are loaded once. */
export function useApiInfo(base = API_BASE) {
  const [info, setInfo] = useState({ status: 'checking', detail: '', config: null, labels: [] })

  useEffect(() => {
    const ctrl = new AbortController()
    let timer = null
    let attempt = 0
    let loaded = false
    const ONLINE_POLL_MS = 20_000

    const schedule = (ms) => {
      timer = setTimeout(check, ms)
    }

    async function check() {
      attempt += 1
      let res
      try {
        res = await fetch(apiUrl('/health', base), { signal: ctrl.signal })
      } catch (e) {
        if (ctrl.signal.aborted) return
        setInfo((s) => ({ ...s, status: 'offline', detail: `No answer from ${base || 'the server'}.` }))
        schedule(Math.min(15000, 2000 * attempt))
        return
      }
      if (!res.ok) {
        let detail = ''
        try {
          detail = (await res.json())?.detail ?? ''
        } catch {
          /* not JSON */
        }
        if (ctrl.signal.aborted) return
        setInfo((s) => ({ ...s, status: res.status === 503 ? 'starting' : 'offline', detail }))
        schedule(res.status === 503 ? 1500 : 5000)
        return
      }
      attempt = 0
      if (loaded) {
        setInfo((s) => (s.status === 'online' ? s : { ...s, status: 'online', detail: '' }))
        schedule(ONLINE_POLL_MS)
        return
      }
      try {
        const [config, labels] = await Promise.all([
          request('/config', { base, signal: ctrl.signal }).catch(() => null),
          request('/labels', { base, signal: ctrl.signal }).catch(() => null),
        ])
        if (ctrl.signal.aborted) return
        const list = parseLabels(labels).length ? parseLabels(labels) : parseLabels(config)
        setInfo({ status: 'online', detail: '', config, labels: list })
        loaded = config != null
        schedule(ONLINE_POLL_MS)
      } catch {
        if (!ctrl.signal.aborted) schedule(3000)
      }
    }

    check()
    return () => {
      ctrl.abort()
      clearTimeout(timer)
    }
  }, [base])

  return info
}
