import { useEffect, useMemo, useRef, useState } from 'react'
import { TopKList } from './TopKList.jsx'
import { SpectrogramCanvas } from './SpectrogramCanvas.jsx'
import { Timeline } from './Timeline.jsx'
import { EventTimeline } from './EventTimeline.jsx'
import { Headline } from './Headline.jsx'
import { useAudioTime } from '../hooks/useAudioTime.js'
import { sliceSpectrogram } from '../lib/spectrogram.js'
import { humanizeLabel, topKFromProbabilities } from '../lib/labels.js'
import { formatDuration, formatPercent, formatSeconds } from '../lib/format.js'
import { describeResult, eventAt } from '../lib/events.js'
import { windowKind } from '../lib/timeline.js'

function AudioPlayer({ source, audioRef }) {
  useEffect(() => {
    if (source?.autoplay && audioRef.current) audioRef.current.play().catch(() => {})
  }, [source?.id, source?.autoplay, audioRef])
  if (!source?.url) return null
  return <audio ref={audioRef} className="player" controls src={source.url} data-testid="audio-player" />
}

/** The result of one file: player, what was heard (events), spectrogram and timeline
 *  sharing one time axis and a playhead, the per-window detail. */
export function ResultPanel({ status, result, spec, specError, source, labels, silenceDbfs, unknownThreshold, specNote }) {
  const [selected, setSelected] = useState(null)
  useEffect(() => setSelected(null), [result])
  const audioRef = useRef(null)
  const { time, seek } = useAudioTime(audioRef, source?.id)

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
  const duration = result?.duration ?? spec?.duration
  const said = result ? describeResult(result, { silenceDbfs }) : null
  const events = result?.events ?? []
  const unsure = said?.kind === 'unknown' || said?.kind === 'none'
  const silent = said?.kind === 'silence'
  const winKind = win ? windowKind(win, { verdict: result?.verdict, unknownThreshold }) : null
  // With the sounds heard listed, the averaged top-k comes second and plain: an average
  // over a file of 8 sounds can be a ninth one, not heard at all.
  const guessTitle = unsure ? 'Best guesses (unsure)'
    : said?.heard ? 'Average over the whole file' : `Top ${result?.top_k?.length ?? 5}, whole file`

  return (
    <section className="card result" aria-labelledby="result-title" aria-busy={loading}>
      <div className="card-head">
        <h2 id="result-title">Result</h2>
        <p className="file-meta" title={source.name}>
          {source.label ?? source.name}
          {Number.isFinite(duration) ? <span> · {formatDuration(duration)}</span> : null}
        </p>
      </div>
      <AudioPlayer source={source} audioRef={audioRef} />

      <div className="result-grid">
        <Headline loading={loading} said={said} labels={labels} />
        {!loading && result && !silent ? (
          <div className={unsure ? 'guesses unsure' : 'guesses'}>
            <p className="eyebrow" data-testid="topk-title">{guessTitle}</p>
            <TopKList items={result.top_k ?? topKFromProbabilities(result.probabilities)} labels={labels}
              testId="topk" caption={said?.heard ? 'Averaged over the whole file' : 'Most likely sounds'} muted={unsure}
              plain={Boolean(said?.heard)} />
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
              time={time}
              onSeek={seek}
              label={`Log-mel spectrogram of ${win ? `the window ${win.window_start.toFixed(1)} to ${win.window_end.toFixed(1)} seconds` : 'the whole file'}`}
            />
          ) : (
            <p className="muted small">{specError || 'No spectrogram for this file.'}</p>
          )}
          {view && specNote ? <p className="muted small" data-testid="spec-note">{specNote}</p> : null}
          {events.length > 0 && windows.length > 1 ? (
            <EventTimeline events={events} duration={duration} labels={labels} time={time} onSeek={seek}
              activeEvent={eventAt(events, time)} />
          ) : null}
          {windows.length > 1 ? (
            <Timeline windows={windows} duration={duration} labels={labels} selected={selected} onSelect={setSelected}
              verdict={result.verdict} unknownThreshold={unknownThreshold} />
          ) : null}
          {win ? (
            <div className="window-detail" aria-live="polite">
              <h3 className="window-title">
                Window {formatSeconds(win.window_start)}–{formatSeconds(win.window_end)}
                <span className="muted"> · {win.label == null ? 'silence'
                  : `${winKind === 'silence' ? 'silence, best guess ' : winKind === 'unsure' ? 'not sure, best guess ' : ''}${humanizeLabel(win.label)} (${formatPercent(win.confidence)})`}</span>
              </h3>
              <TopKList items={topKFromProbabilities(win.probabilities, 5)} labels={labels}
                testId="window-topk" caption="Most likely sounds in this window" muted={winKind !== 'sound'} />
            </div>
          ) : null}
        </>
      ) : null}
    </section>
  )
}
