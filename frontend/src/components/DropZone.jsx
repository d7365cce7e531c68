import { useRef, useState } from 'react'
import { uploadHint } from '../lib/format.js'

/** "Choose file" button + drag-and-drop area. Any file goes to the server, which
 *  decides whether it is audio (so the error message comes from one place). */
export function DropZone({ onFile, onRecord, busy, maxUploadMb, maxAudioSeconds }) {
  const inputRef = useRef(null)
  const [over, setOver] = useState(false)
  const depth = useRef(0)

  const pick = (files) => {
    const file = files?.[0]
    if (file) onFile(file)
  }

  return (
    <div
      className={`dropzone${over ? ' over' : ''}${busy ? ' busy' : ''}`}
      data-testid="dropzone"
      onDragEnter={(e) => {
        e.preventDefault()
        depth.current += 1
        setOver(true)
      }}
      onDragOver={(e) => {
        e.preventDefault()
        e.dataTransfer.dropEffect = 'copy'
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1)
        if (depth.current === 0) setOver(false)
      }}
      onDrop={(e) => {
        e.preventDefault()
        depth.current = 0
        setOver(false)
        pick(e.dataTransfer.files)
      }}
    >
      <svg className="drop-icon" viewBox="0 0 24 24" width="34" height="34" aria-hidden="true">
        <path d="M12 16V4m0 0-4.5 4.5M12 4l4.5 4.5" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
        <path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
      </svg>
      <p className="drop-title desktop-only">Drop an audio file here</p>
      <p className="drop-or desktop-only">or</p>
      <p className="drop-title phone-only" data-testid="phone-cta">Choose or record</p>
      <div className="drop-actions">
        <button type="button" className="btn btn-primary" onClick={() => inputRef.current?.click()} disabled={busy}>
          Choose a file…
        </button>
        {onRecord ? (
          <button type="button" className="btn btn-secondary phone-only" onClick={onRecord} data-testid="phone-record">
            <svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true">
              <rect x="9" y="3" width="6" height="11" rx="3" fill="currentColor" />
              <path d="M6 11a6 6 0 0 0 12 0M12 17v4" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
            </svg>
            Record
          </button>
        ) : null}
      </div>
      <p className="drop-hint" data-testid="drop-hint">{uploadHint(maxUploadMb, maxAudioSeconds)}</p>
      <input
        ref={inputRef}
        className="sr-only"
        type="file"
        accept="audio/*,.wav,.flac,.mp3,.ogg,.oga,.opus,.m4a,.aac,.aiff,.aif,.webm"
        tabIndex={-1}
        aria-hidden="true"
        data-testid="file-input"
        onChange={(e) => {
          pick(e.target.files)
          e.target.value = ''
        }}
      />
    </div>
  )
}
