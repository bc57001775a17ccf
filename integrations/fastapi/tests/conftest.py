"""Shared fixtures: one Ed25519 and one P-256 gateway key per session, a fixed clock, a client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support import Clock, GatewayKey, gateway, jwks, make_app


@pytest.fixture(scope="session")
def ed_key() -> GatewayKey:
    return GatewayKey.ed25519()


@pytest.fixture(scope="session")
def ec_key() -> GatewayKey:
    return GatewayKey.p256()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(ed_key: GatewayKey, ec_key: GatewayKey, clock: Clock) -> TestClient:
    """The app behind a middleware that trusts both session keys (as during a rotation)."""
    return TestClient(make_app(gateway(jwks(ed_key, ec_key), clock, exempt_paths=["/healthz"])))
