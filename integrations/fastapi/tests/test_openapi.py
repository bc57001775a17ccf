"""The OpenAPI document lists each operation's scopes through the OAuth2 scheme."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from support import GatewayKey, gateway, jwks, make_app


def openapi() -> dict[str, Any]:
    return make_app(None).openapi()


def test_operations_list_their_scopes() -> None:
    paths = openapi()["paths"]
    assert paths["/forecast"]["get"]["security"] == [{"GatewayAssertion": ["read:forecast"]}]
    assert paths["/inventory"]["get"]["security"] == [{"SaaSCoGateway": ["read:inventory"]}]
    assert paths["/ingest"]["post"]["security"] == [{"SaaSCoGateway": ["ingest:data"]}]
    assert paths["/both"]["get"]["security"] == [
        {"SaaSCoGateway": ["read:forecast", "ingest:data"]}
    ]
    # require_claims adds no second, scope-less alternative next to require_scope's.
    assert paths["/tenants/{tenant}/forecast"]["get"]["security"] == [
        {"SaaSCoGateway": ["read:forecast"]}
    ]
    # require_claims alone still says the endpoint needs a verified caller.
    assert paths["/acme-only"]["get"]["security"] == [{"GatewayAssertion": []}]
    assert "security" not in paths["/public"]["get"]
    assert "security" not in paths["/healthz"]["get"]


def test_schemes_describe_the_client_credentials_flow() -> None:
    schemes = openapi()["components"]["securitySchemes"]
    described = schemes["SaaSCoGateway"]
    assert described["type"] == "oauth2"
    assert described["flows"]["clientCredentials"] == {
        "tokenUrl": "https://saasco.eu.auth0.com/oauth/token",
        "scopes": {
            "read:forecast": "Read the demand forecast",
            "ingest:data": "Upload sales data",
            "read:inventory": "Read reorder suggestions",
        },
    }
    default = schemes["GatewayAssertion"]
    assert default["flows"]["clientCredentials"] == {"tokenUrl": "/oauth/token", "scopes": {}}


def test_openapi_json_is_behind_the_assertion_unless_exempt(ed_key: GatewayKey) -> None:
    # `gateway coverage --openapi http://backend/openapi.json` reads it straight from the app.
    guarded = TestClient(make_app(gateway(jwks(ed_key))))
    assert guarded.get("/openapi.json").status_code == 401
    exempt = TestClient(make_app(gateway(jwks(ed_key), exempt_paths=["/openapi.json"])))
    response = exempt.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi()
