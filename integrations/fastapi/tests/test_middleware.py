"""The middleware: what it lets through, and every way an assertion is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.types import Message, Receive, Scope, Send
from support import AUDIENCE, NOW, Clock, GatewayKey, anonymous_claims, gateway, jwks, make_app

from gateway_fastapi import GatewayAssertionMiddleware

HEADER = "X-Auth-Assertion"


def call(client: TestClient, token: str | None, method: str = "GET", path: str = "/forecast"):
    headers = {} if token is None else {HEADER: token}
    return client.request(method, path, headers=headers)


def assert_refused(response: Any, error: str, description: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers
    body = response.json()
    assert body["error"] == error
    assert description in body["error_description"], body


@pytest.mark.parametrize("key_name", ["ed_key", "ec_key"])
def test_valid_assertion_reaches_the_handler_with_its_caller(
    client: TestClient, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: GatewayKey = request.getfixturevalue(key_name)
    response = call(client, key.sign())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "clientco@clients",
        "client_id": "clientco",
        "scopes": ["ingest:data", "read:forecast"],
        "issuer": "https://saasco.eu.auth0.com/",
        "route": "/forecast",
        "tenant": "acme",
        "decision": "allow",
        "reason": None,
        "anonymous": False,
    }


def test_missing_assertion(client: TestClient) -> None:
    assert_refused(call(client, None), "missing_assertion", "no X-Auth-Assertion header")


def test_empty_assertion(client: TestClient) -> None:
    assert_refused(call(client, ""), "missing_assertion", "empty")


def test_two_assertion_headers(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign()
    response = client.get("/forecast", headers=[(HEADER, token), (HEADER, token)])
    assert_refused(response, "invalid_assertion", "more than one X-Auth-Assertion header")


def _hs256_with_public_key(key: GatewayKey) -> str:
    """Algorithm confusion: HMAC keyed with the published public key."""
    secret = jwt.utils.base64url_decode(key.jwk["x"])
    payload = jwt.decode(key.sign(), options={"verify_signature": False})
    headers = {"typ": "gateway-assertion+jwt", "kid": key.kid}
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


def _alg_none(key: GatewayKey) -> str:
    header = jwt.utils.base64url_encode(
        b'{"typ":"gateway-assertion+jwt","alg":"none","kid":"%s"}' % key.kid.encode()
    )
    payload = key.sign().split(".")[1]
    return f"{header.decode()}.{payload}."


def _tampered(key: GatewayKey) -> str:
    header, _, signature = key.sign().split(".")
    forged = key.sign(scope="admin read:forecast").split(".")[1]
    return f"{header}.{forged}.{signature}"


# (case, token for GET /forecast made from the Ed25519 key, the description's telling part)
REFUSALS: list[tuple[str, Callable[[GatewayKey], str], str]] = [
    ("not a JWS", lambda k: "not-a-jws", "not a compact JWS"),
    ("garbage segments", lambda k: "a.b.c", "not a compact JWS"),
    ("JWE-shaped", lambda k: "a.b.c.d.e", "not a compact JWS"),
    ("plain JWT typ", lambda k: k.sign(header={"typ": "JWT"}), "typ is not"),
    ("no typ", lambda k: k.sign(header={"typ": None}), "typ is not"),
    ("alg none", _alg_none, "alg is not EdDSA or ES256"),
    ("HS256 keyed with the public key", _hs256_with_public_key, "alg is not EdDSA or ES256"),
    ("crit header", lambda k: k.sign(header={"crit": ["exp"]}), "critical header"),
    ("no kid", lambda k: k.sign(header={"kid": None}), "no kid"),
    ("unknown kid", lambda k: k.sign(header={"kid": "not-a-gateway-key"}), "kid is not in"),
    ("key from outside the JWKS", lambda k: GatewayKey.ed25519().sign(), "kid is not in"),
    ("tampered claims", _tampered, "signature does not verify"),
    ("wrong iss", lambda k: k.sign(iss="https://evil.example/"), "iss is not"),
    ("no iss", lambda k: k.sign(drop=("iss",)), "iss is not"),
    ("wrong aud", lambda k: k.sign(aud="other-backend"), "aud does not include"),
    ("aud list without us", lambda k: k.sign(aud=["a", "b"]), "aud does not include"),
    ("no aud", lambda k: k.sign(drop=("aud",)), "aud does not include"),
    ("expired", lambda k: k.sign(iat=NOW - 70, exp=NOW - 6), "expired"),
    ("no exp", lambda k: k.sign(drop=("exp",)), "no exp"),
    ("exp not a number", lambda k: k.sign(exp=str(NOW + 60)), "exp is not a number"),
    ("exp a boolean", lambda k: k.sign(exp=True), "exp is not a number"),
    ("no iat", lambda k: k.sign(drop=("iat",)), "no iat"),
    ("iat in the future", lambda k: k.sign(iat=NOW + 6, exp=NOW + 66), "iat is in the future"),
    ("lifetime over 300 s", lambda k: k.sign(exp=NOW + 301), "lifetime"),
    ("exp before iat", lambda k: k.sign(iat=NOW, exp=NOW - 1), "lifetime"),
    ("nbf in the future", lambda k: k.sign(nbf=NOW + 30), "nbf"),
    ("htm for another method", lambda k: k.sign(method="POST"), "another method"),
    ("htm missing", lambda k: k.sign(drop=("htm",)), "another method"),
    ("htp for another path", lambda k: k.sign(path="/inventory"), "another path"),
    ("htp with a query", lambda k: k.sign(path="/forecast?x=1"), "another path"),
    ("htp missing", lambda k: k.sign(drop=("htp",)), "another path"),
    ("unknown decision", lambda k: k.sign(decision="deny"), "decision"),
    ("decision not a string", lambda k: k.sign(decision=["allow"]), "decision"),
    ("sub not a string", lambda k: k.sign(sub=42), "sub is not a string"),
    ("scope not a string", lambda k: k.sign(scope=["read:forecast"]), "scope is not a string"),
    ("claims not an object", lambda k: k.sign(claims=["acme"]), "claims is not a JSON object"),
    ("no route", lambda k: k.sign(drop=("route",)), "no route"),
]


@pytest.mark.parametrize(
    ("make_token", "description"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusal(
    client: TestClient,
    ed_key: GatewayKey,
    make_token: Callable[[GatewayKey], str],
    description: str,
) -> None:
    token = make_token(ed_key)
    response = call(client, token)
    assert_refused(response, "invalid_assertion", description)
    # The description says what was wrong, never what the assertion said.
    assert token not in response.text
    for part in token.split("."):
        assert len(part) < 8 or part not in response.text


def test_non_ascii_header_is_refused(client: TestClient) -> None:
    response = client.get("/forecast", headers={HEADER: "é".encode("latin-1")})
    assert_refused(response, "invalid_assertion", "not ASCII")


def test_alg_must_match_the_key_of_that_kid(
    client: TestClient, ed_key: GatewayKey, ec_key: GatewayKey
) -> None:
    token = ed_key.sign(header={"kid": ec_key.kid})
    assert_refused(call(client, token), "invalid_assertion", "alg does not match its key")


def test_leeway_absorbs_small_clock_skew(client: TestClient, ed_key: GatewayKey) -> None:
    assert call(client, ed_key.sign(iat=NOW - 64, exp=NOW - 4)).status_code == 200
    assert call(client, ed_key.sign(iat=NOW + 4, exp=NOW + 64)).status_code == 200
    assert call(client, ed_key.sign(exp=NOW + 300)).status_code == 200


def test_leeway_is_configurable(ed_key: GatewayKey) -> None:
    client = TestClient(make_app(gateway(jwks(ed_key), leeway=0)))
    assert call(client, ed_key.sign(iat=NOW - 61, exp=NOW - 1)).status_code == 401
    assert call(client, ed_key.sign(iat=NOW - 60, exp=NOW)).status_code == 200


def test_aud_list_including_the_audience(client: TestClient, ed_key: GatewayKey) -> None:
    assert call(client, ed_key.sign(aud=["other", AUDIENCE])).status_code == 200


def test_typ_is_compared_as_a_media_type(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign(header={"typ": "application/Gateway-Assertion+JWT"})
    assert call(client, token).status_code == 200


def test_repeated_jti_is_accepted(client: TestClient, ed_key: GatewayKey) -> None:
    # The gateway may reuse one assertion for identical requests for up to 5 s.
    token = ed_key.sign()
    assert [call(client, token).status_code for _ in range(3)] == [200, 200, 200]


def test_replay_on_another_path_is_refused(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign("GET", "/forecast")
    assert call(client, token, path="/forecast").status_code == 200
    assert_refused(call(client, token, path="/inventory"), "invalid_assertion", "another path")
    assert_refused(call(client, token, path="/forecast/"), "invalid_assertion", "another path")


def test_replay_with_another_method_is_refused(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign("GET", "/ingest")
    assert_refused(call(client, token, "POST", "/ingest"), "invalid_assertion", "another method")


def test_replay_after_expiry_is_refused(
    client: TestClient, ed_key: GatewayKey, clock: Clock
) -> None:
    token = ed_key.sign()
    assert call(client, token).status_code == 200
    clock.now = NOW + 60 + 5  # exp + leeway: still accepted
    assert call(client, token).status_code == 200
    clock.now = NOW + 60 + 6
    assert_refused(call(client, token), "invalid_assertion", "expired")


def test_query_string_is_not_part_of_htp(client: TestClient, ed_key: GatewayKey) -> None:
    assert call(client, ed_key.sign(), path="/forecast?week=1&x=%2F").status_code == 200


def test_htp_is_compared_with_the_raw_path(client: TestClient, ed_key: GatewayKey) -> None:
    raw = "/tenants/ac%6De/forecast"
    response = call(client, ed_key.sign(path=raw), path=raw)
    assert response.status_code == 200, response.text
    assert response.json()["path_tenant"] == "acme"
    # The decoded form of the same path is another request line: refused.
    decoded = ed_key.sign(path="/tenants/acme/forecast")
    assert_refused(call(client, decoded, path=raw), "invalid_assertion", "another path")
    # And an escaped slash is not a slash.
    token = ed_key.sign(path="/tenants/a/b/forecast")
    assert call(client, token, path="/tenants/a%2Fb/forecast").status_code == 401


def test_without_raw_path_the_decoded_path_is_compared(ed_key: GatewayKey) -> None:
    inner = make_app(gateway(jwks(ed_key)))

    async def no_raw_path(scope: Scope, receive: Receive, send: Send) -> None:
        scope = {name: value for name, value in scope.items() if name != "raw_path"}
        await inner(scope, receive, send)

    client = TestClient(no_raw_path)
    raw = "/tenants/ac%6De/forecast"
    assert call(client, ed_key.sign(path=raw), path=raw).status_code == 200
    assert call(client, ed_key.sign(path="/forecast"), path=raw).status_code == 401


def test_rotation_accepts_current_and_previous_key(ed_key: GatewayKey, ec_key: GatewayKey) -> None:
    previous, current = ed_key, GatewayKey.ed25519()
    during = TestClient(make_app(gateway(jwks(current, previous))))
    assert call(during, current.sign()).status_code == 200
    assert call(during, previous.sign()).status_code == 200
    after = TestClient(make_app(gateway(jwks(current, ec_key))))
    assert call(after, current.sign()).status_code == 200
    assert call(after, previous.sign()).status_code == 401


def test_public_route_assertion_gives_an_anonymous_caller(
    client: TestClient, ed_key: GatewayKey
) -> None:
    token = ed_key.sign(path="/public", drop=("sub", "client_id"), **anonymous_claims())
    body = call(client, token, path="/public").json()
    assert body["anonymous"] is True
    assert body["subject"] is None and body["client_id"] is None and body["scopes"] == []


def test_shadow_deny_caller(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign(decision="shadow_deny", reason="insufficient_scope")
    body = call(client, token).json()
    assert body["decision"] == "shadow_deny" and body["reason"] == "insufficient_scope"


def test_explicit_allow_decision(client: TestClient, ed_key: GatewayKey) -> None:
    assert call(client, ed_key.sign(decision="allow")).json()["decision"] == "allow"


def test_exempt_path_skips_verification_but_gives_no_caller(
    client: TestClient, ed_key: GatewayKey
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert_refused(client.get("/healthz/"), "missing_assertion", "no X-Auth-Assertion")
    no_exemptions = TestClient(make_app(gateway(jwks(ed_key))))
    assert no_exemptions.get("/healthz").status_code == 401


def test_header_name_is_configurable(ed_key: GatewayKey) -> None:
    client = TestClient(make_app(gateway(jwks(ed_key), header="X-Gateway-Identity")))
    token = ed_key.sign()
    assert client.get("/forecast", headers={"x-gateway-identity": token}).status_code == 200
    assert client.get("/forecast", headers={HEADER: token}).status_code == 401


def test_refusal_happens_before_the_app_reads_the_body(client: TestClient) -> None:
    response = client.post("/ingest", content=b"x" * 100_000)
    assert_refused(response, "missing_assertion", "no X-Auth-Assertion")


def test_lifespan_passes_through(ed_key: GatewayKey) -> None:
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        events.append("startup")
        yield {"started": True}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(GatewayAssertionMiddleware, assertion=gateway(jwks(ed_key)))

    @app.get("/forecast")
    async def forecast(request: Any = None) -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        assert call(client, ed_key.sign()).status_code == 200
    assert events == ["startup", "shutdown"]


def test_websocket_is_verified_as_a_get(client: TestClient, ed_key: GatewayKey) -> None:
    with client.websocket_connect("/ws", headers={HEADER: ed_key.sign(path="/ws")}) as ws:
        assert ws.receive_json() == {"subject": "clientco@clients"}


def test_websocket_refusal_is_a_401_denial_response(client: TestClient, ed_key: GatewayKey) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/ws", headers={HEADER: ed_key.sign(path="/other")}):
            pass  # pragma: no cover
    assert denied.value.status_code == 401
    assert denied.value.json()["error"] == "invalid_assertion"


def test_websocket_refusal_without_denial_extension_closes_before_accepting(
    ed_key: GatewayKey,
) -> None:
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        reached.append(scope)

    middleware = GatewayAssertionMiddleware(app, gateway(jwks(ed_key)))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "headers": []}
    asyncio.run(middleware(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing_assertion"}]
    assert reached == []
