const STATUS_TEXT = {
  checking: 'Connecting…',
  starting: 'Model loading…',
  online: 'API online',
  offline: 'API offline',
}

export function Header({ status, detail, summary }) {
  return (
    <header className="app-header">
      <div className="brand">
        <svg className="logo" viewBox="0 0 32 32" width="30" height="30" aria-hidden="true">
          <rect width="32" height="32" rx="8" fill="#1b1f2c" />
          <rect x="6" y="13" width="3" height="6" rx="1.5" fill="#de4968" />
          <rect x="11" y="8" width="3" height="16" rx="1.5" fill="#f7705c" />
          <rect x="16" y="5" width="3" height="22" rx="1.5" fill="#fe9f6d" />
          <rect x="21" y="10" width="3" height="12" rx="1.5" fill="#fecf92" />
        </svg>
        <div>
          <h1>envaudio</h1>
          <p className="tagline">
            Environmental sound classifier{summary ? ` · ${summary}` : ''}
          </p>
        </div>
      </div>
      <p className={`api-status api-${status}`} title={detail || undefined} data-testid="api-status">
        <span className="dot" aria-hidden="true" />
        {STATUS_TEXT[status] ?? status}
      </p>
    </header>
  )
}
