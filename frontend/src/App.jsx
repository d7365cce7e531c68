import { useCallback, useState } from 'react'
import { Header } from './components/Header.jsx'
import { DropZone } from './components/DropZone.jsx'
import { ExamplesBar } from './components/ExamplesBar.jsx'
import { ErrorMessage } from './components/ErrorMessage.jsx'
import { ResultPanel } from './components/ResultPanel.jsx'
import { LivePanel } from './components/LivePanel.jsx'
import { useApiInfo } from './hooks/useApiInfo.js'
import { useClassifier } from './hooks/useClassifier.js'
import { useExamples } from './hooks/useExamples.js'
import { useMicStream } from './hooks/useMicStream.js'
import { examplesForLabels, humanizeLabel, modelSummary } from './lib/labels.js'
import { apiUrl, fileErrorMessage } from './lib/api.js'
import { spectrogramNote } from './lib/spectrogram.js'

const TOP_K = 5

export default function App() {
  const api = useApiInfo()
  const online = api.status === 'online'
  const config = api.config ?? {}
  // The API refuses a top_k above the model's class count (a custom model may have 2).
  const topK = Math.min(TOP_K, api.labels.length || TOP_K)
  const clf = useClassifier({ maxUploadMb: config.max_upload_mb, maxAudioSeconds: config.max_audio_seconds, topK })
  const examples = useExamples(online)
  const mic = useMicStream({ hopSeconds: config.stream_hop_seconds ?? 0.5, topK })
  const [loadingExample, setLoadingExample] = useState(null)

  const tryExample = useCallback(async (ex) => {
    setLoadingExample(ex.file)
    try {
      const file = await examples.load(ex)
      await clf.classify(file, { autoplay: true, origin: 'example', label: `Example: ${humanizeLabel(ex.label)}` })
    } catch (e) {
      const msg = fileErrorMessage(`Example ${humanizeLabel(ex.label)}`, e)
      clf.fail(msg.title, msg.detail)
    } finally {
      setLoadingExample(null)
    }
  }, [examples, clf])

  // Phones: "Record" in the upload card starts the microphone and brings its panel into view.
  const record = useCallback(() => {
    mic.start()
    document.getElementById('live-title')?.scrollIntoView({ behavior: 'smooth', block: 'start' })
  }, [mic])

  return (
    <div className="app">
      <Header status={api.status} detail={api.detail} summary={modelSummary(api.labels.length, config.model_card)} />
      {api.status === 'offline' ? (
        <div className="banner" role="status">
          Can’t reach the envaudio API. Start it with <code>envaudio serve</code>; this page retries automatically.
        </div>
      ) : null}
      <main className="layout">
        <section className="card upload" aria-labelledby="upload-title">
          <div className="card-head">
            <h2 id="upload-title">Classify a recording</h2>
          </div>
          <DropZone onFile={(f) => clf.classify(f)} onRecord={online ? record : undefined} busy={clf.status === 'loading'}
            maxUploadMb={config.max_upload_mb}
            maxAudioSeconds={config.max_audio_seconds} />
          {clf.status === 'error' ? <ErrorMessage error={clf.error} /> : null}
          <ExamplesBar {...examples} examples={examplesForLabels(examples.examples, api.labels)} onTry={tryExample}
            busyFile={loadingExample} />
        </section>
        {/* a failed upload shows its error above and leaves the last result here */}
        {clf.source ? (
          <ResultPanel
            status={clf.status}
            result={clf.result}
            spec={clf.spec}
            specError={clf.specError}
            source={clf.source}
            labels={api.labels}
            silenceDbfs={config.silence_dbfs}
            unknownThreshold={config.unknown_threshold}
            specNote={spectrogramNote(config)}
          />
        ) : null}
        <LivePanel mic={mic} labels={api.labels} apiOnline={online} silenceDbfs={config.silence_dbfs}
          specNote={spectrogramNote(config)} />
      </main>
      <footer className="app-footer">
        <p>
          envaudio · sound classifier{config.model_card?.dataset ? ` trained on ${config.model_card.dataset}` : ''} · <a href={apiUrl('/docs')}>API docs</a>
        </p>
      </footer>
    </div>
  )
}
