"""SaaSCo's API, as it runs behind the gateway.

The gateway verifies the caller's Auth0 token and the route's scopes, then forwards, with every
request, a short-lived assertion it signed (`X-Auth-Assertion`, `[forward.assertion]` in
gateway.toml) naming the caller and bound to that request's method and path. This app trusts
nothing else: the `gateway_fastapi` middleware (integrations/fastapi) refuses with 401 any
request without a valid assertion for itself, so a request that reached the app around the
gateway, with forged X-Auth-* headers, or with an assertion captured from another request (other
path, other method, expired), never reaches an endpoint. Network isolation stays the first wall
(`python app.py` binds 127.0.0.1 and refuses other hosts unless told --allow-remote); the
signature is the second, for the day a misconfigured Service or a neighbour on the private
network reaches the app anyway.

Each endpoint re-checks its scope with `require_scope` (defence in depth: a policy mistake in the
gateway should not turn into a data leak here), declared through FastAPI's `Security`, so
`/openapi.json` lists every operation's scopes for `gateway coverage` and `gateway init`.

Two paths skip the assertion (`EXEMPT_PATHS`): `/healthz`, which the kubelet probes straight at
the container, and `/openapi.json`, so `gateway coverage --openapi http://app/openapi.json` can
read the operations and their scopes without going through the gateway (the document describes
the API; it grants nothing, and every operation in it still needs an assertion). `/healthz` is
left out of that document (`include_in_schema=False`): the gateway has no route to it, and
`./scripts/test` runs `gateway coverage --strict` against this app's live `/openapi.json`
(scripts/app-coverage), which would otherwise flag it as an operation the gateway cannot reach.

Settings (environment, read by `GatewayAssertion.from_env`): GATEWAY_ASSERTION_ISSUER and
GATEWAY_ASSERTION_AUDIENCE (= `[forward.assertion]` issuer and audience; defaults below), one of
GATEWAY_ASSERTION_JWKS_URL (default: the gateway's admin listener in the same pod,
http://127.0.0.1:9901/.well-known/jwks.json, fetched on first use) or GATEWAY_ASSERTION_JWKS_FILE
(what `gateway assertion-jwks` prints), and optionally GATEWAY_ASSERTION_LEEWAY (seconds, default
5). Give these to the app's process only: the gateway treats any GATEWAY_* variable it does not
know as a configuration error.

SAASCO_SEEN_LOG=path makes the app append one JSON line per request with the method, path and
every X-Auth-* / Authorization header it received (the assertion included), recorded before the
assertion is checked, so the end-to-end test can prove that no forged identity and no restricted
call ever reached it. It is a file, not an endpoint, so it is not reachable over HTTP at all.

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
from typing import Any

from fastapi import FastAPI, Request

from gateway_fastapi import (
    Caller,
    CurrentCaller,
    GatewayAssertion,
    GatewayOAuth2,
    install,
)

# uvicorn's own default backlog, so the pre-opened socket queues as much as uvicorn would.
LISTEN_BACKLOG = 2048

#: What `[forward.assertion]` says in the repository's gateway.toml and docs/deploy/.
DEFAULT_ISSUER = "https://gateway.saasco.internal/"
DEFAULT_AUDIENCE = "saasco-backend"
DEFAULT_JWKS_URL = "http://127.0.0.1:9901/.well-known/jwks.json"
#: Reachable without an assertion; see the module docstring for why each.
EXEMPT_PATHS = ("/healthz", "/openapi.json")
SCOPES = {
    "ingest:data": "ClientCo pushes data",
    "read:forecast": "Retrieve demand forecast",
    "read:inventory": "Retrieve inventory optimization",
}


def assertion_from_env(environ: dict[str, str] | None = None) -> GatewayAssertion:
    """The assertion settings: GATEWAY_ASSERTION_* over this app's defaults."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("GATEWAY_ASSERTION_ISSUER", DEFAULT_ISSUER)
    env.setdefault("GATEWAY_ASSERTION_AUDIENCE", DEFAULT_AUDIENCE)
    env.setdefault("GATEWAY_ASSERTION_EXEMPT_PATHS", " ".join(EXEMPT_PATHS))
    if not any(env.get(f"GATEWAY_ASSERTION_JWKS_{k}", "").strip() for k in ("URL", "FILE")):
        env["GATEWAY_ASSERTION_JWKS_URL"] = DEFAULT_JWKS_URL
    return GatewayAssertion.from_env(env)


app = FastAPI(
    title="SaaSCo API",
    description="Served behind the gateway; trusts only the gateway's signed assertion.",
)
install(app, assertion_from_env())
gateway = GatewayOAuth2(
    token_url=os.environ.get("SAASCO_TOKEN_URL", "https://YOUR_TENANT.auth0.com/oauth/token"),
    scopes=SCOPES,
)
require_scope = gateway.require_scope

_seen_lock = threading.Lock()


# Added after install(), so it wraps the assertion middleware and records refused requests too.
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


@app.post("/ingest")
async def ingest(request: Request, caller: Caller = require_scope("ingest:data")):
    body = await request.body()
    return {"accepted_bytes": len(body), "client_id": caller.client_id, "subject": caller.subject}


@app.get("/forecast")
def forecast(caller: Caller = require_scope("read:forecast")) -> dict[str, Any]:
    return {
        "client_id": caller.client_id,
        "forecast": [{"week": w, "units": 100 + 7 * w} for w in range(1, 5)],
    }


@app.get("/inventory")
def inventory(caller: Caller = require_scope("read:inventory")) -> dict[str, Any]:
    return {
        "client_id": caller.client_id,
        "reorder": [{"sku": "SKU-1", "quantity": 40}, {"sku": "SKU-7", "quantity": 12}],
    }


@app.post("/models/train")
def train(caller: CurrentCaller) -> dict[str, Any]:
    # Internal: the gateway's policy marks /models/** restricted, so this only ever runs when
    # called from inside (e.g. the pipeline), never by ClientCo.
    return {"training": "started", "requested_by": caller.subject}


# Out of the schema: the kubelet probes it at the container, the gateway never forwards it (no
# route), so it is not part of the API `gateway coverage --strict` holds the policy to.
@app.get("/healthz", include_in_schema=False)
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
            f"error: refusing to listen on {args.host}: only the gateway should reach this app "
            "(network isolation is the first wall, the signed assertion the second). Bind "
            "127.0.0.1, or pass --allow-remote on a private network."
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
