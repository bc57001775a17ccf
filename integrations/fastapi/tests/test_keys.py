"""The key set: JWKS parsing, the reloaded file, and the fetched URL (a local server, port 0)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import AUDIENCE, ISSUER, Clock, GatewayKey, jwks, make_app

from gateway_fastapi import (
    FileKeySet,
    GatewayAssertion,
    JWKSError,
    UrlKeySet,
    jwk_thumbprint,
    parse_jwks,
)

HEADER = "X-Auth-Assertion"
DEADLINE = 10.0  # seconds any wait on the local server may take before the test fails


def status(client: TestClient, key: GatewayKey) -> int:
    return client.get("/forecast", headers={HEADER: key.sign()}).status_code


# --- parsing -------------------------------------------------------------------------------


def test_thumbprint_matches_rfc_7638_example() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_parse_skips_foreign_keys_and_files_keyless_ones_under_their_thumbprint(
    ed_key: GatewayKey, ec_key: GatewayKey
) -> None:
    rsa = {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"}
    encryption = dict(ec_key.jwk, use="enc", kid="enc")
    keyless = {name: value for name, value in ed_key.jwk.items() if name != "kid"}
    keys = parse_jwks({"keys": [rsa, encryption, keyless, ec_key.jwk]})
    assert sorted(keys) == sorted([ed_key.kid, ec_key.kid])
    assert keys[ed_key.kid].alg == "EdDSA" and keys[ec_key.kid].alg == "ES256"


def test_parse_ignores_private_members(ed_key: GatewayKey) -> None:
    leaked = dict(ed_key.jwk, d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    key = parse_jwks({"keys": [leaked]})[ed_key.kid]
    assert not hasattr(key.key, "sign")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"keys": {}}, "JSON object"),
        ({"keys": ["x"]}, "JSON object"),
        ({"keys": []}, "no Ed25519 or P-256"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}, "unusable"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": 1}]}, "string members"),
    ],
)
def test_parse_rejects_malformed_documents(document: Any, message: str) -> None:
    with pytest.raises(JWKSError, match=message):
        parse_jwks(document)


def test_parse_rejects_a_repeated_kid_and_a_wrong_alg(ed_key: GatewayKey) -> None:
    with pytest.raises(JWKSError, match="twice"):
        parse_jwks({"keys": [ed_key.jwk, ed_key.jwk]})
    with pytest.raises(JWKSError, match="alg EdDSA"):
        parse_jwks({"keys": [dict(ed_key.jwk, alg="ES256")]})


def test_configuration_errors(tmp_path: Path, ed_key: GatewayKey) -> None:
    keys = jwks(ed_key)
    with pytest.raises(ValueError, match="exactly one"):
        GatewayAssertion(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ValueError, match="exactly one"):
        GatewayAssertion(issuer=ISSUER, audience=AUDIENCE, jwks=keys, jwks_url="http://x/")
    with pytest.raises(ValueError, match="issuer"):
        GatewayAssertion(issuer="", audience=AUDIENCE, jwks=keys)
    with pytest.raises(ValueError, match="audience"):
        GatewayAssertion(issuer=ISSUER, audience="", jwks=keys)
    with pytest.raises(ValueError, match="http"):
        GatewayAssertion(issuer=ISSUER, audience=AUDIENCE, jwks_url="file:///etc/jwks.json")
    with pytest.raises(JWKSError, match="cannot read"):
        GatewayAssertion(issuer=ISSUER, audience=AUDIENCE, jwks_file=tmp_path / "absent.json")


def test_from_env(tmp_path: Path, ed_key: GatewayKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ed_key)))
    env = {
        "GATEWAY_ASSERTION_ISSUER": ISSUER,
        "GATEWAY_ASSERTION_AUDIENCE": AUDIENCE,
        "GATEWAY_ASSERTION_JWKS_FILE": str(path),
        "GATEWAY_ASSERTION_LEEWAY": "2s",
        "GATEWAY_ASSERTION_EXEMPT_PATHS": "/healthz, /openapi.json",
        "GATEWAY_ASSERTION_HEADER": "X-Identity",
    }
    assertion = GatewayAssertion.from_env(env)
    assert assertion.issuer == ISSUER and assertion.audience == AUDIENCE
    assert isinstance(assertion.key_set, FileKeySet) and assertion.leeway == 2.0
    assert assertion.exempt_paths == {"/healthz", "/openapi.json"}
    assert assertion.header == "X-Identity"

    url_env = {
        "GATEWAY_ASSERTION_ISSUER": ISSUER,
        "GATEWAY_ASSERTION_AUDIENCE": AUDIENCE,
        "GATEWAY_ASSERTION_JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",
        "GATEWAY_ASSERTION_FETCH_TIMEOUT": "1.5",
    }
    key_set = GatewayAssertion.from_env(url_env).key_set
    assert isinstance(key_set, UrlKeySet) and key_set.timeout == 1.5

    with pytest.raises(ValueError, match="GATEWAY_ASSERTION_AUDIENCE is not set"):
        GatewayAssertion.from_env({k: v for k, v in env.items() if "AUDIENCE" not in k})
    with pytest.raises(ValueError, match="exactly one of GATEWAY_ASSERTION_JWKS_URL"):
        GatewayAssertion.from_env(env | url_env)
    with pytest.raises(ValueError, match="LEEWAY must be a number"):
        GatewayAssertion.from_env(env | {"GATEWAY_ASSERTION_LEEWAY": "soon"})


# --- the file ------------------------------------------------------------------------------


def file_client(path: Path) -> TestClient:
    assertion = GatewayAssertion(issuer=ISSUER, audience=AUDIENCE, jwks_file=path, clock=Clock())
    return TestClient(make_app(assertion))


def test_file_is_reloaded_when_replaced(tmp_path: Path, ed_key: GatewayKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ed_key)))
    client = file_client(path)
    assert status(client, ed_key) == 200
    rotated = GatewayKey.ed25519()
    assert status(client, rotated) == 401
    staged = tmp_path / "jwks.json.new"
    staged.write_text(json.dumps(jwks(rotated, ed_key)))
    os.replace(staged, path)  # how a deployment should update it: atomically
    assert status(client, rotated) == 200 and status(client, ed_key) == 200


def test_file_rewritten_in_place_is_reloaded(tmp_path: Path, ed_key: GatewayKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ed_key)))
    client = file_client(path)
    rotated = GatewayKey.ed25519()
    before = path.stat().st_mtime_ns
    path.write_text(json.dumps(jwks(rotated)))
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a later mtime, surely
    assert status(client, rotated) == 200 and status(client, ed_key) == 401


def test_broken_or_missing_file_keeps_the_loaded_keys(tmp_path: Path, ed_key: GatewayKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ed_key)))
    client = file_client(path)
    path.write_text('{"keys": [')  # half-written
    os.utime(path, ns=(1, 1))
    assert status(client, ed_key) == 200
    path.unlink()
    assert status(client, ed_key) == 200
    rotated = GatewayKey.ed25519()
    path.write_text(json.dumps(jwks(rotated)))
    assert status(client, rotated) == 200


# --- the URL -------------------------------------------------------------------------------


@dataclass
class JWKSServer:
    """A JWKS endpoint on 127.0.0.1, port chosen by the kernel, that counts its fetches."""

    document: Any
    status: int = 200
    stall: threading.Event | None = None
    fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def body(self) -> tuple[int, bytes]:
        with self.lock:
            self.fetches += 1
            document, code = self.document, self.status
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        return code, raw


@pytest.fixture
def jwks_server(ed_key: GatewayKey) -> Iterator[JWKSServer]:
    server_state = JWKSServer(document=jwks(ed_key))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/ready":
                code, raw = 200, b"{}"
            else:
                if server_state.stall is not None:
                    server_state.stall.wait(DEADLINE)
                code, raw = server_state.body()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    # A short poll interval only makes shutdown() prompt; nothing waits on it otherwise.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    host, port = str(httpd.server_address[0]), int(httpd.server_address[1])
    # Use the address only once the server answers (bounded by the deadline, no sleeps).
    with urllib.request.urlopen(f"http://{host}:{port}/ready", timeout=DEADLINE) as ready:
        assert ready.status == 200
    server_state.url = f"http://{host}:{port}/.well-known/jwks.json"
    try:
        yield server_state
    finally:
        if server_state.stall is not None:
            server_state.stall.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(DEADLINE)


@dataclass
class Monotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def url_client(server: JWKSServer, monotonic: Monotonic, **options: Any) -> TestClient:
    key_set = UrlKeySet(server.url, monotonic=monotonic, **options)
    assertion = GatewayAssertion(issuer=ISSUER, audience=AUDIENCE, key_set=key_set, clock=Clock())
    return TestClient(make_app(assertion))


def test_url_is_fetched_once_and_cached(jwks_server: JWKSServer, ed_key: GatewayKey) -> None:
    client = url_client(jwks_server, Monotonic())
    assert jwks_server.fetches == 0  # lazily, on the first request
    assert [status(client, ed_key) for _ in range(3)] == [200, 200, 200]
    assert jwks_server.fetches == 1


def test_unknown_kid_refetches_once_per_cooldown(
    jwks_server: JWKSServer, ed_key: GatewayKey
) -> None:
    clock = Monotonic()
    client = url_client(jwks_server, clock, refetch_cooldown=10)
    assert status(client, ed_key) == 200
    stranger = GatewayKey.ed25519()
    clock.now += 1
    assert status(client, stranger) == 401
    assert status(client, stranger) == 401
    assert jwks_server.fetches == 1  # within the cool-down: no refetch at all
    clock.now += 10
    assert status(client, stranger) == 401
    assert status(client, stranger) == 401
    assert jwks_server.fetches == 2  # one refetch, then the cool-down again


def test_rotation_is_picked_up_by_the_unknown_kid_refetch(
    jwks_server: JWKSServer, ed_key: GatewayKey
) -> None:
    clock = Monotonic()
    client = url_client(jwks_server, clock, refetch_cooldown=10)
    assert status(client, ed_key) == 200
    current = GatewayKey.p256()
    jwks_server.document = jwks(current, ed_key)  # the gateway rotated: current + previous
    clock.now += 10
    assert status(client, current) == 200
    assert status(client, ed_key) == 200
    assert jwks_server.fetches == 2


def test_cache_expires_after_max_age(jwks_server: JWKSServer, ed_key: GatewayKey) -> None:
    clock = Monotonic()
    client = url_client(jwks_server, clock, max_age=300)
    assert status(client, ed_key) == 200
    jwks_server.document = jwks(GatewayKey.ed25519())  # the old key was retired
    clock.now += 299
    assert status(client, ed_key) == 200
    clock.now += 1
    assert status(client, ed_key) == 401
    assert jwks_server.fetches == 2


@pytest.mark.parametrize(
    ("code", "document"),
    [(500, {"error": "boom"}), (200, b"not json"), (200, {"keys": []}), (200, {"keys": "x"})],
    ids=["http-500", "not-json", "no-keys", "malformed"],
)
def test_failed_refetch_keeps_the_cached_keys(
    jwks_server: JWKSServer, ed_key: GatewayKey, code: int, document: Any
) -> None:
    clock = Monotonic()
    client = url_client(jwks_server, clock, refetch_cooldown=0)
    assert status(client, ed_key) == 200
    jwks_server.status, jwks_server.document = code, document
    assert status(client, GatewayKey.ed25519()) == 401  # refetched, failed
    assert status(client, ed_key) == 200
    assert jwks_server.fetches >= 2


def test_unreachable_url_refuses_without_hanging(ed_key: GatewayKey) -> None:
    # A port bound but not listening refuses connections, and stays ours for the test.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        key_set = UrlKeySet(url, timeout=DEADLINE)
        assertion = GatewayAssertion(
            issuer=ISSUER, audience=AUDIENCE, key_set=key_set, clock=Clock()
        )
        client = TestClient(make_app(assertion))
        response = client.get("/forecast", headers={HEADER: ed_key.sign()})
    assert response.status_code == 401
    assert "kid is not in" in response.json()["error_description"]


def test_a_stalled_server_is_bounded_by_the_timeout(
    jwks_server: JWKSServer, ed_key: GatewayKey
) -> None:
    jwks_server.stall = threading.Event()
    client = url_client(jwks_server, Monotonic(), timeout=0.2)
    # The server holds the answer until released; the fetch gives up after 0.2 s instead.
    assert status(client, ed_key) == 401
    jwks_server.stall.set()


def test_concurrent_requests_share_one_fetch(jwks_server: JWKSServer, ed_key: GatewayKey) -> None:
    client = url_client(jwks_server, Monotonic())
    app = client.app
    token = ed_key.sign()

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as http:
            responses = await asyncio.gather(
                *(http.get("/forecast", headers={HEADER: token}) for _ in range(20))
            )
        return [response.status_code for response in responses]

    assert asyncio.run(burst()) == [200] * 20
    assert jwks_server.fetches == 1
    # A second event loop (as TestClient starts per request) gets its own lock and the cache.
    assert status(client, ed_key) == 200 and jwks_server.fetches == 1


def test_install_without_configuration_reads_the_environment(
    tmp_path: Path, ed_key: GatewayKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI

    from gateway_fastapi import Caller, install, require_scope

    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ed_key)))
    monkeypatch.setenv("GATEWAY_ASSERTION_ISSUER", ISSUER)
    monkeypatch.setenv("GATEWAY_ASSERTION_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("GATEWAY_ASSERTION_JWKS_FILE", str(path))
    app = FastAPI()
    assertion = install(app)
    assert isinstance(assertion.key_set, FileKeySet)

    @app.get("/forecast")
    async def forecast(caller: Caller = require_scope("read:forecast")) -> dict[str, str | None]:
        return {"subject": caller.subject}

    client = TestClient(app)
    token = ed_key.sign(iat=int(time.time()), exp=int(time.time()) + 60)
    assert client.get("/forecast", headers={HEADER: token}).json() == {
        "subject": "clientco@clients"
    }
