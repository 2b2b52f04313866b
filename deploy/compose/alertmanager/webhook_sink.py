"""Example webhook receiver of the compose stack's Alertmanager: prints each notification as
one JSON line per alert (status, alertname, severity, labels, summary) on stdout.

Standard library only, so it runs in a plain `python` image. Replace it with your chat or
paging integration: anything that accepts Alertmanager's webhook POST (version "4").
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def alert_lines(notification: dict[str, object]) -> list[str]:
    """One JSON line per alert of an Alertmanager webhook notification."""
    lines = []
    alerts = notification.get("alerts")
    for alert in alerts if isinstance(alerts, list) else []:
        labels = alert.get("labels", {})
        lines.append(
            json.dumps(
                {
                    "status": alert.get("status"),
                    "alertname": labels.get("alertname"),
                    "severity": labels.get("severity"),
                    "labels": labels,
                    "summary": alert.get("annotations", {}).get("summary"),
                    "startsAt": alert.get("startsAt"),
                    "receiver": notification.get("receiver"),
                },
                sort_keys=True,
            )
        )
    return lines


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            notification = json.loads(body)
        except ValueError:
            self.send_error(400, "not JSON")
            return
        for line in alert_lines(notification):
            print(line, flush=True)
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:  # health check
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # one line per alert is enough
        pass


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Sink)
    print(f"alert webhook sink listening on :{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
