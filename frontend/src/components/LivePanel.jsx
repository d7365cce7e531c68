import { useEffect, useState } from 'react'
import { LiveSpectrogramCanvas } from './SpectrogramCanvas.jsx'
import { TopKList } from './TopKList.jsx'
import { LevelMeter } from './LevelMeter.jsx'
import { LaeqMeter } from './LaeqMeter.jsx'
import { useNow } from '../hooks/useElementWidth.js'
import { describePhase, isStale, liveHeadline } from '../lib/stream.js'
import { classColor, humanizeLabel, topKFromProbabilities } from '../lib/labels.js'
import { formatSpan } from '../lib/events.js'

const BADGE = {
  idle: 'Off',
  requesting: 'Permission',
  denied: 'Blocked',
  connecting: 'Connecting',
  buffering: 'Buffering',
  streaming: 'Live',
  disconnected: 'Disconnected',
  error: 'Error',
}

/** Microphone streaming: controls, connection state, level, live spectrogram and predictions. */
export function LivePanel({ mic, labels, apiOnline, silenceDbfs, specNote }) {
  const { state, rolling, start, stop, reconnect, resetBuffer } = mic
  const phase = state.phase
  const active = ['requesting', 'connecting', 'buffering', 'streaming', 'disconnected'].includes(phase)
  const now = useNow(phase === 'disconnected' && state.retryAt != null)
  const pred = state.prediction
  const items = pred?.top_k?.length ? pred.top_k : topKFromProbabilities(pred?.probabilities, 5)

  const said = liveHeadline(pred)
  const stale = isStale(state)
  const events = pred?.events ?? []

  // Announce only changes of what is heard (predictions arrive every hop).
  const [announce, setAnnounce] = useState('')
  useEffect(() => {
    if (said?.title) setAnnounce(`Now hearing: ${said.title}`)
  }, [said?.title])

  const progress = state.windowSeconds ? Math.min(1, state.bufferedSeconds / state.windowSeconds) : 0

  return (
    <section className="card live" aria-labelledby="live-title" data-testid="live-panel" data-phase={phase}>
      <div className="card-head">
        <h2 id="live-title">Live microphone</h2>
        <span className={`badge badge-${phase}`} data-testid="live-phase">
          <span className="dot" aria-hidden="true" />
          {BADGE[phase] ?? phase}
        </span>
      </div>
      <p className="muted small intro">
        Streams your microphone to the server and classifies the last {state.windowSeconds ?? 4} seconds,
        updated continuously. Audio is not stored.
      </p>

      <div className="controls">
        {active ? (
          <button type="button" className="btn btn-danger" onClick={stop} data-testid="mic-stop">
            <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true"><rect x="3" y="3" width="10" height="10" rx="1.5" fill="currentColor" /></svg>
            Stop
          </button>
        ) : (
          <button type="button" className="btn btn-primary" onClick={start} disabled={!apiOnline} data-testid="mic-start">
            <svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true">
              <rect x="9" y="3" width="6" height="11" rx="3" fill="currentColor" />
              <path d="M6 11a6 6 0 0 0 12 0M12 17v4" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
            </svg>
            {phase === 'denied' || phase === 'error' ? 'Try again' : 'Start listening'}
          </button>
        )}
        {phase === 'streaming' || phase === 'buffering' ? (
          <button type="button" className="btn btn-ghost" onClick={resetBuffer} data-testid="mic-reset"
            title="Forget the buffered audio and start a new window">
            Reset
          </button>
        ) : null}
        {phase === 'disconnected' ? (
          <button type="button" className="btn btn-secondary" onClick={reconnect} data-testid="mic-reconnect">
            Reconnect now
          </button>
        ) : null}
      </div>

      <p className={`status-line status-${phase}`} role="status" data-testid="live-status">
        {describePhase(state, now)}
      </p>
      {phase === 'buffering' ? (
        <div className="progress" role="progressbar" aria-label="Buffered audio" aria-valuemin={0}
          aria-valuemax={state.windowSeconds ?? 4} aria-valuenow={Number(state.bufferedSeconds.toFixed(1))}>
          <span style={{ width: `${progress * 100}%` }} />
        </div>
      ) : null}
      {active || state.level != null ? <LevelMeter level={state.level} silenceDbfs={silenceDbfs} /> : null}
      {state.lastError ? <p className="warn small">Server: {state.lastError}</p> : null}

      <div className="live-grid">
        <div className="live-spec">
          <LiveSpectrogramCanvas
            rolling={rolling}
            version={state.predictionCount}
            emptyText={active ? 'Waiting for audio…' : 'Microphone off'}
            note={specNote}
          />
          {active || state.levels ? <LaeqMeter levels={state.levels} /> : null}
        </div>
        <div className={`live-pred${stale ? ' stale' : ''}`} data-testid="live-predictions" data-count={state.predictionCount}
          data-stale={stale}>
          <p className="eyebrow">{stale ? 'Last heard (stopped)' : 'Hearing now'}</p>
          {said ? (
            <>
              <p className="big-label" data-testid="live-label" data-verdict={said.kind}>{said.title}</p>
              <p className="confidence">
                {said.detail}
                {Number.isFinite(pred?.time) ? ` · at ${pred.time.toFixed(1)} s` : ''}
                {Number.isFinite(pred?.compute_ms) ? ` · ${Math.round(pred.compute_ms)} ms` : ''}
              </p>
              {said.kind !== 'silence' ? (
                <TopKList items={items} labels={labels} testId="live-topk" caption="Most likely sounds right now"
                  muted={said.kind === 'unknown'} />
              ) : null}
            </>
          ) : (
            <p className="muted">{active ? 'Waiting for the first full window…' : 'Press “Start listening”.'}</p>
          )}
        </div>
      </div>
      {events.length ? (
        <div className={`history${stale ? ' stale' : ''}`}>
          <p className="eyebrow">Recent sounds</p>
          <ol className="history-list" data-testid="live-events">
            {events.slice(-8).reverse().map((e) => (
              <li key={`${e.label}-${e.start}`} style={{ borderColor: classColor(e.label, labels) }}>
                {humanizeLabel(e.label)} <span className="muted">{formatSpan(e)}</span>
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      <p className="sr-only" aria-live="polite">{announce}</p>
    </section>
  )
}
