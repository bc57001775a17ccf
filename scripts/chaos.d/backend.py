"""The chaos run's backend: answers 200 to everything and appends one line per request it
received, `X-Request-Id METHOD PATH`, to a log file (flushed per line, so a kill -9 loses none).

Usage: python backend.py PORT LOG
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()
    log = None

    def answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        rid = self.headers.get("x-request-id", "-")
        with Handler.log_lock:
            Handler.log.write(f"{rid} {self.command} {self.path}\n")
            Handler.log.flush()
        body = b'{"ok":true}\n'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *_args) -> None:
        pass


def main(argv: list[str]) -> int:
    port, log = int(argv[0]), argv[1]
    Handler.log = open(log, "a", buffering=1)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
