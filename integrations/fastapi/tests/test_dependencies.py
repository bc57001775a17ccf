"""require_scope, require_claims and current_caller: 401 without a caller, 403 without grants."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import TENANT, GatewayKey, anonymous_claims, make_app

from gateway_fastapi import Caller, GatewayOAuth2, from_path, require_claims, require_scope

HEADER = "X-Auth-Assertion"


def get(client: TestClient, token: str, path: str, method: str = "GET") -> Any:
    return client.request(method, path, headers={HEADER: token})


def assert_error(response: Any, status: int, error: str, description: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers


def test_require_scope_granted(client: TestClient, ed_key: GatewayKey) -> None:
    assert get(client, ed_key.sign(), "/forecast").status_code == 200


def test_require_scope_missing_is_403(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign(path="/inventory", scope="read:forecast")
    response = get(client, token, "/inventory")
    assert_error(response, 403, "insufficient_scope", "missing scope read:inventory")


def test_require_scope_names_every_missing_scope(client: TestClient, ed_key: GatewayKey) -> None:
    response = get(client, ed_key.sign(path="/both", scope=""), "/both")
    assert_error(response, 403, "insufficient_scope", "missing scope read:forecast ingest:data")
    response = get(client, ed_key.sign(path="/both", scope="ingest:data"), "/both")
    assert_error(response, 403, "insufficient_scope", "missing scope read:forecast")


def test_require_scope_is_not_fooled_by_a_scope_prefix(
    client: TestClient, ed_key: GatewayKey
) -> None:
    token = ed_key.sign(scope="read:forecasts read:forecast:extra")
    assert get(client, token, "/forecast").status_code == 403


def test_anonymous_caller_on_a_scoped_endpoint_is_401(
    client: TestClient, ed_key: GatewayKey
) -> None:
    token = ed_key.sign(drop=("sub", "client_id"), **anonymous_claims())
    response = get(client, token, "/forecast")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_assertion"
    assert "names no caller" in response.json()["error_description"]


def test_without_the_middleware_scoped_endpoints_are_401(ed_key: GatewayKey) -> None:
    client = TestClient(make_app(None))
    response = get(client, ed_key.sign(), "/forecast")
    assert_error(
        response, 401, "missing_assertion", "no verified gateway assertion for this request"
    )
    assert client.get("/public").status_code == 401
    assert client.get("/acme-only").status_code == 401


def test_without_the_handler_fastapi_still_refuses_with_the_status(ed_key: GatewayKey) -> None:
    client = TestClient(make_app(None, handler=False))
    response = get(client, ed_key.sign(), "/forecast")
    assert response.status_code == 401
    assert response.json() == {"detail": "no verified gateway assertion for this request"}


def test_shadow_deny_caller_still_gets_its_granted_scopes(
    client: TestClient, ed_key: GatewayKey
) -> None:
    token = ed_key.sign(decision="shadow_deny", reason="route_restricted")
    assert get(client, token, "/forecast").status_code == 200
    token = ed_key.sign(decision="shadow_deny", reason="insufficient_scope", scope="")
    assert get(client, token, "/forecast").status_code == 403


def test_current_caller_gives_anonymous_callers(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign(path="/public", drop=("sub", "client_id"), **anonymous_claims())
    response = get(client, token, "/public")
    assert response.status_code == 200 and response.json()["anonymous"] is True


def test_require_claims_literal(client: TestClient, ed_key: GatewayKey) -> None:
    assert get(client, ed_key.sign(path="/acme-only"), "/acme-only").status_code == 200
    token = ed_key.sign(path="/acme-only", claims={TENANT: "globex"})
    response = get(client, token, "/acme-only")
    assert_error(
        response, 403, "access_denied", f"claim {TENANT} does not match the required value"
    )
    assert "globex" not in response.text and "acme" not in response.text


def test_require_claims_missing_claim(client: TestClient, ed_key: GatewayKey) -> None:
    response = get(client, ed_key.sign(path="/acme-only", claims={}), "/acme-only")
    assert_error(response, 403, "access_denied", f"claim {TENANT} is missing")


def test_require_claims_anonymous_is_401(client: TestClient, ed_key: GatewayKey) -> None:
    token = ed_key.sign(path="/acme-only", drop=("sub", "client_id"), **anonymous_claims())
    assert get(client, token, "/acme-only").status_code == 401


def test_require_claims_path_parameter(client: TestClient, ed_key: GatewayKey) -> None:
    own = "/tenants/acme/forecast"
    assert get(client, ed_key.sign(path=own), own).status_code == 200
    other = "/tenants/globex/forecast"
    response = get(client, ed_key.sign(path=other), other)
    assert_error(
        response,
        403,
        "access_denied",
        f"claim {TENANT} does not match the path parameter tenant",
    )
    assert "globex" not in response.text and "acme" not in response.text


def test_require_claims_compares_types_strictly(ed_key: GatewayKey) -> None:
    from support import gateway, jwks

    app = FastAPI()
    from gateway_fastapi import install

    install(app, gateway(jwks(ed_key)))

    @app.get("/level")
    async def level(caller: Caller = require_claims({"level": 1})) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/flag")
    async def flag(caller: Caller = require_claims({"flag": True})) -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    assert get(client, ed_key.sign(path="/level", claims={"level": 1}), "/level").status_code == 200
    assert (
        get(client, ed_key.sign(path="/level", claims={"level": True}), "/level").status_code == 403
    )
    assert (
        get(client, ed_key.sign(path="/level", claims={"level": "1"}), "/level").status_code == 403
    )
    assert get(client, ed_key.sign(path="/flag", claims={"flag": 1}), "/flag").status_code == 403
    assert get(client, ed_key.sign(path="/flag", claims={"flag": True}), "/flag").status_code == 200


def test_require_claims_on_a_route_without_that_parameter_fails_loudly(ed_key: GatewayKey) -> None:
    from support import gateway, jwks

    from gateway_fastapi import install

    app = FastAPI()
    install(app, gateway(jwks(ed_key)))

    @app.get("/forecast")
    async def forecast(caller: Caller = require_claims({TENANT: from_path("tenant")})) -> None:
        pass  # pragma: no cover

    with pytest.raises(LookupError, match="no path parameter tenant"):
        TestClient(app).get("/forecast", headers={HEADER: ed_key.sign()})


def test_declaration_errors() -> None:
    with pytest.raises(ValueError, match="without spaces"):
        require_scope("read:forecast ingest:data")
    with pytest.raises(ValueError, match="not among"):
        GatewayOAuth2(scopes={"read:forecast": "Read"}).require_scope("read:forcast")
    with pytest.raises(ValueError, match="at least one"):
        require_claims({})
    with pytest.raises(ValueError, match="JSON literal or from_path"):
        require_claims({TENANT: ["acme"]})  # type: ignore[dict-item]


def test_caller_helpers() -> None:
    caller = Caller(
        subject="s",
        client_id="c",
        scopes=frozenset({"a", "b"}),
        issuer="https://idp/",
        route="/x",
        claims={TENANT: "acme"},
    )
    assert caller.has_scope("a") and caller.has_scope("a", "b") and not caller.has_scope("c")
    assert caller.claim(TENANT) == "acme" and caller.claim("other", "d") == "d"
    assert not caller.anonymous and not caller.shadow_denied and caller.decision == "allow"
