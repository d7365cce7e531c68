import { useEffect, useMemo, useRef, useState } from 'react'
import { TopKList } from './TopKList.jsx'
import { SpectrogramCanvas } from './SpectrogramCanvas.jsx'
import { Timeline } from './Timeline.jsx'
import { sliceSpectrogram } from '../lib/spectrogram.js'
import { humanizeLabel, topKFromProbabilities } from '../lib/labels.js'
import { formatDuration, formatPercent, formatSeconds } from '../lib/format.js'

function AudioPlayer({ source }) {
  const ref = useRef(null)
  useEffect(() => {
    if (source?.autoplay && ref.current) ref.current.play().catch(() => {})
  }, [source?.id, source?.autoplay])
  if (!source?.url) return null
  return <audio ref={ref} className="player" controls src={source.url} data-testid="audio-player" />
}

/** The result of one file: player, top prediction, top-k, spectrogram, timeline. */
export function ResultPanel({ status, result, spec, specError, source, labels }) {
  const [selected, setSelected] = useState(null)
  useEffect(() => setSelected(null), [result])

  const windows = result?.windows ?? []
  const win = selected != null ? windows[selected] : null
  const view = useMemo(() => {
    if (!spec) return null
    if (!win) return spec
    try {
      return sliceSpectrogram(spec, win.window_start, win.window_end)
    } catch {
      return spec
    }
  }, [spec, win])

  if (!source) return null
  const loading = status === 'loading'
  const top = result?.top_prediction ?? result?.top_k?.[0]
  const duration = result?.duration ?? spec?.duration

  return (
    <section className="card result" aria-labelledby="result-title" aria-busy={loading}>
      <div className="card-head">
        <h2 id="result-title">Result</h2>
        <p className="file-meta" title={source.name}>
          {source.label ?? source.name}
          {Number.isFinite(duration) ? <span> · {formatDuration(duration)}</span> : null}
        </p>
      </div>
      <AudioPlayer source={source} />

      <div className="result-grid">
        <div className="top-pred" aria-live="polite" aria-atomic="true">
          <p className="eyebrow">Top prediction</p>
          {loading ? (
            <p className="analyzing"><span className="spinner" aria-hidden="true" /> Analyzing…</p>
          ) : top ? (
            <>
              <p className="big-label" data-testid="top-label">{humanizeLabel(top.label)}</p>
              <p className="confidence">{formatPercent(top.confidence)} confidence{windows.length > 1 ? ', averaged over the windows' : ''}</p>
            </>
          ) : (
            <p className="muted">—</p>
          )}
        </div>
        {!loading && result ? (
          <div>
            <p className="eyebrow">Top {result.top_k?.length ?? 5}</p>
            <TopKList items={result.top_k ?? topKFromProbabilities(result.probabilities)} labels={labels}
              testId="topk" caption="Most likely sounds" />
          </div>
        ) : null}
      </div>

      {!loading && result ? (
        <>
          <div className="spec-head">
            <h3>
              Spectrogram
              <span className="muted" data-testid="spec-title">
                {win ? ` · window ${formatSeconds(win.window_start)}–${formatSeconds(win.window_end)}` : ' · whole file'}
              </span>
            </h3>
            {win ? (
              <button type="button" className="btn btn-ghost btn-small" onClick={() => setSelected(null)}>
                Show whole file
              </button>
            ) : null}
          </div>
          {view ? (
            <SpectrogramCanvas
              spec={view}
              label={`Log-mel spectrogram of ${win ? `the window ${win.window_start.toFixed(1)} to ${win.window_end.toFixed(1)} seconds` : 'the whole file'}`}
            />
          ) : (
            <p className="muted small">{specError || 'No spectrogram for this file.'}</p>
          )}
          {windows.length > 1 ? (
            <Timeline windows={windows} duration={duration} labels={labels} selected={selected} onSelect={setSelected} />
          ) : null}
          {win ? (
            <div className="window-detail" aria-live="polite">
              <h3 className="window-title">
                Window {formatSeconds(win.window_start)}–{formatSeconds(win.window_end)}
                <span className="muted"> · {humanizeLabel(win.label)} ({formatPercent(win.confidence)})</span>
              </h3>
              <TopKList items={topKFromProbabilities(win.probabilities, 5)} labels={labels}
                testId="window-topk" caption="Most likely sounds in this window" />
            </div>
          ) : null}
        </>
      ) : null}
    </section>
  )
}
