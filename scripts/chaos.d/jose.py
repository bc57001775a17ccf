"""The chaos run's issuer and token material, made without any of the gateway's code: an RSA
key ring published as a JWKS by a small HTTP server that can answer 503 and rotate on demand,
RS256 access tokens shaped like Auth0 client-credentials tokens, and ES256 DPoP proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

AUDIENCE = "https://clientco/api"
TENANT_CLAIM = "https://saasco/tenant"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_int(n: int) -> str:
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def encode(header: dict, claims: dict) -> bytes:
    return (b64u(json.dumps(header, separators=(",", ":")).encode()) + "."
            + b64u(json.dumps(claims, separators=(",", ":")).encode())).encode()


def rs256(key, header: dict, claims: dict) -> str:
    signing = encode(header, claims)
    return signing.decode() + "." + b64u(key.sign(signing, padding.PKCS1v15(), hashes.SHA256()))


class Issuer:
    """The key ring and its JWKS endpoint. `failing` makes the endpoint answer 503; `rotate`
    adds a key, makes it current and keeps the previous one published (as Auth0 does)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[tuple[str, object]] = []
        self.failing = False
        self.requests = 0
        self.rotate()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate(self) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"chaos-{uuid.uuid4().hex[:8]}"
        with self.lock:
            self.keys.append((kid, key))
            self.keys = self.keys[-2:]
        return kid

    def jwks(self) -> bytes:
        with self.lock:
            keys = [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                     "n": b64u_int(k.public_key().public_numbers().n),
                     "e": b64u_int(k.public_key().public_numbers().e)} for kid, k in self.keys]
        return json.dumps({"keys": keys}).encode()

    def handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                issuer.requests += 1
                if self.path != "/.well-known/jwks.json":
                    status, body = 404, b"{}"
                elif issuer.failing:
                    status, body = 503, b'{"error":"chaos: JWKS endpoint failing"}'
                else:
                    status, body = 200, issuer.jwks()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        return Handler

    def token(self, client: str, scope: str, tenant: str, cnf: dict | None = None,
              lifetime: int = 3600) -> str:
        with self.lock:
            kid, key = self.keys[-1]
        now = int(time.time())
        claims = {"iss": self.url, "sub": f"{client}@clients", "aud": AUDIENCE, "iat": now,
                  "exp": now + lifetime, "azp": client, "scope": scope,
                  "gty": "client-credentials", "jti": uuid.uuid4().hex, TENANT_CLAIM: tenant}
        if cnf:
            claims["cnf"] = cnf
        return rs256(key, {"alg": "RS256", "typ": "JWT", "kid": kid}, claims)

    def forged(self, client: str, scope: str, tenant: str) -> str:
        """A well-formed token under the current kid, signed by a key nobody published."""
        with self.lock:
            kid = self.keys[-1][0]
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = int(time.time())
        return rs256(stranger, {"alg": "RS256", "typ": "JWT", "kid": kid},
                     {"iss": self.url, "sub": f"{client}@clients", "aud": AUDIENCE, "iat": now,
                      "exp": now + 3600, "azp": client, "scope": scope,
                      "gty": "client-credentials", TENANT_CLAIM: tenant})

    def close(self) -> None:
        self.server.shutdown()


class DpopKey:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC", "x": b64u(numbers.x.to_bytes(32, "big")),
                    "y": b64u(numbers.y.to_bytes(32, "big"))}
        thumb = json.dumps(self.jwk, separators=(",", ":"), sort_keys=True).encode()
        self.jkt = b64u(hashlib.sha256(thumb).digest())

    def proof(self, method: str, htu: str, token: str, nonce: str | None) -> tuple[str, str]:
        """Returns (proof, jti)."""
        jti = uuid.uuid4().hex
        claims = {"jti": jti, "htm": method, "htu": htu, "iat": int(time.time()),
                  "ath": b64u(hashlib.sha256(token.encode()).digest())}
        if nonce:
            claims["nonce"] = nonce
        signing = encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}, claims)
        r, s = decode_dss_signature(self.key.sign(signing, ec.ECDSA(hashes.SHA256())))
        return signing.decode() + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")), jti
