/** A visible, human error (role=alert so screen readers announce it). */
export function ErrorMessage({ error, onDismiss }) {
  if (!error) return null
  return (
    <div className="error" role="alert" data-testid="error-message">
      <svg className="error-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
        <circle cx="12" cy="12" r="10" fill="none" stroke="currentColor" strokeWidth="2" />
        <path d="M12 7v6M12 16.5v.5" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
      </svg>
      <div className="error-text">
        <p className="error-title">{error.title}</p>
        {error.detail ? <p className="error-detail">{error.detail}</p> : null}
      </div>
      {onDismiss ? (
        <button type="button" className="btn btn-ghost btn-small" onClick={onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  )
}
