"""`envaudio monitor --metrics-port PORT`: Prometheus text on /metrics (prometheus-client)
and a /health for a supervisor or a load balancer, served from a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metrics:
    """The monitor's counters, in their own registry (not the process's default one)."""

    def __init__(self, labels: list[str]):
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = r = CollectorRegistry()
        self.events = Counter("envaudio_monitor_events", "events written, by class", ["label"], registry=r)
        for label in labels:
            self.events.labels(label)
        self.laeq = Gauge("envaudio_monitor_laeq_db", "the last interval's LAeq (dB, or dBFS without calibration)",
                          registry=r)
        self.audio = Counter("envaudio_monitor_audio_seconds", "seconds of audio analysed", registry=r)
        self.dropped = Counter("envaudio_monitor_dropped_seconds",
                               "seconds of live audio dropped because the analysis was behind", registry=r)
        self.gaps = Counter("envaudio_monitor_gaps", "gaps in the audio (a lost source, dropped audio)", registry=r)
        self.up = Gauge("envaudio_monitor_source_up", "1 while the source gives audio, 0 while reconnecting",
                        registry=r)
        self.state = "starting"

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def serve_metrics(metrics: Metrics, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve /metrics and /health on host:port from a daemon thread (OSError if the port is
    taken)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] == "/metrics":
                body, ctype, code = metrics.text(), "text/plain; version=0.0.4; charset=utf-8", 200
            elif self.path.split("?")[0] == "/health":
                ok = metrics.state in ("running", "finished")
                body = json.dumps({"status": "ok" if ok else metrics.state, "state": metrics.state}).encode()
                ctype, code = "application/json", 200 if ok else 503
            else:
                body, ctype, code = b"not found: /metrics or /health\n", "text/plain", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: the monitor logs one line per interval
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
