"""SaaSCo's API, as it runs behind the gateway.

The gateway has already verified the caller's Auth0 token and checked the route's scopes; it
forwards the verified identity in X-Auth-* headers and removes any X-Auth-* header a client sent.
This app therefore trusts those headers and nothing else, through one FastAPI dependency
(`gateway_identity`). That trust is only sound when the app cannot be reached except through the
gateway: bind it to 127.0.0.1 (sidecar) or a private network the gateway alone can reach. This
is why `python app.py` refuses any other host unless told --allow-remote.

Each endpoint re-checks its scope (defence in depth: a policy mistake in the gateway should not
turn into a data leak here).

SAASCO_SEEN_LOG=path makes the app append one JSON line per request with the method, path and
every X-Auth-* / Authorization header it received, so the end-to-end test can prove that no
forged identity and no restricted call ever reached it. It is a file, not an endpoint, so it is
not reachable over HTTP at all.

Run:  python app.py [--host 127.0.0.1] [--port 8000]
      (--port 0 picks a free port; "listening on http://127.0.0.1:PORT" is printed once that
      port accepts connections, so a caller may connect as soon as it reads the line)
or:   uvicorn app:app --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request

# uvicorn's own default backlog, so the pre-opened socket queues as much as uvicorn would.
LISTEN_BACKLOG = 2048

app = FastAPI(title="SaaSCo API", description="Served behind the gateway; trusts X-Auth-* only.")

_seen_lock = threading.Lock()


@app.middleware("http")
async def record_identity_headers(request: Request, call_next):
    """Appends what identity this request carried to SAASCO_SEEN_LOG, before anything else runs."""
    path = os.environ.get("SAASCO_SEEN_LOG")
    if path:
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            lower = name.lower()
            if lower.startswith("x-auth-") or lower == "authorization":
                headers.setdefault(lower, []).append(value)
        line = json.dumps({"method": request.method, "path": request.url.path, "headers": headers})
        with _seen_lock, open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    return await call_next(request)


@dataclass(frozen=True)
class Caller:
    """The identity the gateway verified."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    issuer: str


def gateway_identity(request: Request) -> Caller:
    """The caller, from the gateway's X-Auth-* headers; 401 when they are absent or ambiguous."""

    def one(name: str) -> str:
        values = request.headers.getlist(name)
        if len(values) != 1 or not values[0]:
            raise HTTPException(
                status_code=401,
                detail=f"missing or repeated {name}: this API is only reachable through the gateway",
            )
        return values[0]

    return Caller(
        subject=one("x-auth-subject"),
        client_id=one("x-auth-client-id"),
        scopes=frozenset(request.headers.get("x-auth-scopes", "").split()),
        issuer=one("x-auth-issuer"),
    )


def require_scope(scope: str):
    """A dependency: the caller, if the gateway granted `scope`; 403 otherwise."""

    def check(caller: Caller = Depends(gateway_identity)) -> Caller:
        if scope not in caller.scopes:
            raise HTTPException(status_code=403, detail=f"missing scope {scope}")
        return caller

    return check


@app.post("/ingest")
async def ingest(request: Request, caller: Caller = Depends(require_scope("ingest:data"))):
    body = await request.body()
    return {"accepted_bytes": len(body), "client_id": caller.client_id, "subject": caller.subject}


@app.get("/forecast")
def forecast(caller: Caller = Depends(require_scope("read:forecast"))) -> dict[str, Any]:
    return {
        "client_id": caller.client_id,
        "forecast": [{"week": w, "units": 100 + 7 * w} for w in range(1, 5)],
    }


@app.get("/inventory")
def inventory(caller: Caller = Depends(require_scope("read:inventory"))) -> dict[str, Any]:
    return {
        "client_id": caller.client_id,
        "reorder": [{"sku": "SKU-1", "quantity": 40}, {"sku": "SKU-7", "quantity": 12}],
    }


@app.post("/models/train")
def train(caller: Caller = Depends(gateway_identity)) -> dict[str, Any]:
    # Internal: the gateway's policy marks /models/** restricted, so this only ever runs when
    # called from inside (e.g. the pipeline), never by ClientCo.
    return {"training": "started", "requested_by": caller.subject}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description="SaaSCo API (run behind the gateway)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="bind a non-loopback address (only on a network the gateway alone can reach)",
    )
    args = parser.parse_args()
    if not args.allow_remote and not ipaddress.ip_address(args.host).is_loopback:
        sys.exit(
            f"error: refusing to listen on {args.host}: this app trusts X-Auth-* headers, so only "
            "the gateway may reach it. Bind 127.0.0.1, or pass --allow-remote on a private network."
        )

    import uvicorn

    # Bind here rather than letting uvicorn do it, so that --port 0 can report the port the
    # kernel chose (uvicorn does not print it back) with no window for another process to take it.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    # listen() before the line, never after: whoever reads "listening on" connects at once, and
    # a bound socket that is not listening yet refuses (issue 13). From here the kernel queues
    # connections (up to the backlog, uvicorn's default) until uvicorn starts accepting them.
    sock.listen(LISTEN_BACKLOG)
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
