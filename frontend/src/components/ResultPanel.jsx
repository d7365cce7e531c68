import { useEffect, useMemo, useRef, useState } from 'react'
import { TopKList } from './TopKList.jsx'
import { SpectrogramCanvas } from './SpectrogramCanvas.jsx'
import { Timeline } from './Timeline.jsx'
import { EventTimeline } from './EventTimeline.jsx'
import { Headline, HeardList } from './Headline.jsx'
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
  const several = said?.heard?.items?.length > 1
  const guesses = result ? (result.top_k ?? topKFromProbabilities(result.probabilities)) : []

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

      {/* One answer first (the sound heard longest, as the API and the command line give
          it), then every sound heard; the windows' average only after them, collapsed. */}
      <div className={`result-grid${several || (unsure && !loading) ? '' : ' single'}`}>
        <Headline loading={loading} said={said} />
        {!loading && several ? (
          <div className="heard-col">
            <p className="eyebrow">Heard, longest first</p>
            <HeardList heard={said.heard} labels={labels} />
          </div>
        ) : null}
        {!loading && result && unsure ? (
          <div className="guesses unsure">
            <p className="eyebrow" data-testid="topk-title">{windows.length > 1 ? 'Best guesses (not sure), averaged over the windows' : 'Best guesses (not sure)'}</p>
            <TopKList items={guesses} labels={labels} testId="topk" caption="Most likely sounds" muted />
          </div>
        ) : null}
      </div>
      {!loading && result && !silent && !unsure && guesses.length ? (
        <details className="average" data-testid="average">
          <summary data-testid="topk-title">
            {windows.length > 1 ? `Average over the ${windows.length} windows` : `Top ${guesses.length} guesses`}
          </summary>
          <p className="muted small">
            {windows.length > 1
              ? 'The mean of every window’s probabilities: not the result above. A file of several sounds can rank first a sound heard in none of its events.'
              : 'The model’s probabilities for this clip.'}
          </p>
          <TopKList items={guesses} labels={labels} testId="topk"
            caption={windows.length > 1 ? 'Averaged over the windows' : 'Most likely sounds'} plain />
        </details>
      ) : null}

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
