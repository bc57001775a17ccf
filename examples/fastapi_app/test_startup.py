"""The launcher's promise: `listening on http://HOST:PORT` means the port accepts connections.

Tests (tests/e2e_fastapi.rs), scripts and people connect as soon as they read that line. The app
once printed it after bind() but before listen(), and a client quick enough was refused: flaky
end-to-end runs on a busy machine (issue 13).

The check is exact, with no timing in it: `app.main()` runs in this process with stdout replaced
by a probe that, at the very moment the line is written, connects to the port it names. A
socket that is bound but not listening refuses at once (ECONNREFUSED on loopback); a listening
one completes the handshake into its backlog even though nothing accepts yet. uvicorn itself is
not started: the stub only closes the socket it is handed.

Run: python -m pytest examples/fastapi_app (scripts/test does, with .venv-e2e's python).
"""

from __future__ import annotations

import io
import socket
import sys

import uvicorn

import app

PREFIX = "listening on http://"


class ConnectOnListeningLine(io.TextIOBase):
    """A stdout that connects to the address of the `listening on` line as it is written."""

    def __init__(self) -> None:
        self.connected_to: list[str] = []
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        if text.startswith(PREFIX):
            address = text.strip().removeprefix(PREFIX)
            host, port = address.rsplit(":", 1)
            # Raises ConnectionRefusedError when the line comes before listen().
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
                self.connected_to.append(address)
        return len(text)


def test_listening_line_is_printed_only_once_the_port_accepts_connections(monkeypatch):
    probe = ConnectOnListeningLine()
    handed_to_uvicorn: list[str] = []

    def run_without_serving(_server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            host, port = sock.getsockname()[:2]
            handed_to_uvicorn.append(f"{host}:{port}")
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run_without_serving)
    monkeypatch.setattr(sys, "stdout", probe)
    monkeypatch.setattr(sys, "argv", ["app.py", "--host", "127.0.0.1", "--port", "0"])

    app.main()

    assert len(probe.connected_to) == 1, f"no listening line among: {probe.text!r}"
    assert handed_to_uvicorn == probe.connected_to, "uvicorn must serve the socket the line names"
