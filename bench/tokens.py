"""Token material for scripts/bench, made without any of the gateway's code.

An RSA-2048 key from openssl, a JWKS built from its public half (kid, n, e), and RS256 access
tokens shaped like Auth0 client-credentials tokens, minted with PyJWT. HAProxy gets the public key
as PEM (its jwt_verify reads a file, not a JWKS). Also mints the tokens a verifier must refuse, so
the harness can check every contender says no before it measures how fast it says yes.

Usage: python bench/tokens.py OUT_DIR ISSUER [--distinct N] [--cold N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "https://clientco/api"
SCOPE = "read:forecast read:inventory"
KID = "bench-key-1"
# Long enough for the optional 1M-request soak on a slow machine, short enough to be obviously
# bench-only material.
LIFETIME_SECONDS = 6 * 3600


def openssl_rsa_key(path: Path) -> None:
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(path)],
        check=True, capture_output=True,
    )


def load_private(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def claims(issuer: str, n: int, now: int, **override) -> dict:
    body = {
        "iss": issuer,
        "sub": f"bench-client-{n}@clients",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "azp": f"bench-client-{n}",
        "scope": SCOPE,
        "gty": "client-credentials",
        "jti": f"bench-{now}-{n}",
    }
    body.update(override)
    return {k: v for k, v in body.items() if v is not None}


def mint(key, body: dict, kid: str = KID) -> str:
    # Passing the key object (not PEM text) keeps PyJWT from re-parsing it per token.
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})


_worker_key = None


def _init_worker(key_path: str) -> None:
    global _worker_key
    # Workers are forked from bench.py: drop its signal handlers, so Pool's SIGTERM at the end
    # simply ends them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_key = load_private(Path(key_path))


def _mint_range(job: tuple[str, int, int, int]) -> list[str]:
    issuer, first, last, now = job
    return [mint(_worker_key, claims(issuer, n, now)) for n in range(first, last)]


def mint_many(key_path: Path, issuer: str, first: int, count: int, now: int, out: Path) -> None:
    """Mints `count` distinct tokens on every CPU (RSA signing is ~1 ms each) into `out`."""
    step = 2000
    jobs = [(issuer, n, min(n + step, first + count), now) for n in range(first, first + count, step)]
    with multiprocessing.Pool(os.cpu_count() or 1, _init_worker, (str(key_path),)) as pool, \
            out.open("w") as f:
        for chunk in pool.imap(_mint_range, jobs):
            f.write("\n".join(chunk) + "\n")


def make(out: Path, issuer: str, distinct: int, cold: int = 0) -> dict:
    """Writes key.pem, pubkey.pem, jwks/.well-known/jwks.json, token.txt, tokens.txt (the
    `distinct` rotation), cold-tokens.txt (`cold` more, for runs where no token may repeat) and
    bad-tokens.json into `out`; returns a summary."""
    out.mkdir(parents=True, exist_ok=True)
    key_path = out / "key.pem"
    openssl_rsa_key(key_path)
    subprocess.run(
        ["openssl", "pkey", "-in", str(key_path), "-pubout", "-out", str(out / "pubkey.pem")],
        check=True, capture_output=True,
    )
    key = load_private(key_path)

    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.pop("key_ops", None)  # Auth0's JWKS carries `use`, not `key_ops`.
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    jwks_dir = out / "jwks" / ".well-known"
    jwks_dir.mkdir(parents=True, exist_ok=True)
    (jwks_dir / "jwks.json").write_text(json.dumps({"keys": [jwk]}))

    now = int(time.time())
    (out / "token.txt").write_text(mint(key, claims(issuer, 0, now)) + "\n")
    mint_many(key_path, issuer, 1, distinct, now, out / "tokens.txt")
    if cold:
        mint_many(key_path, issuer, distinct + 1, cold, now, out / "cold-tokens.txt")

    # Tokens every contender must refuse: (name, token, acceptable statuses).
    stranger = serialization.load_pem_private_key(
        _fresh_key_pem(out / "stranger.pem"), password=None)
    good = mint(key, claims(issuer, 0, now))
    header, payload, signature = good.split(".")
    forged_payload = mint(key, claims(issuer, 0, now, scope="read:forecast admin:all")).split(".")[1]
    bad = [
        ("wrong signing key", mint(stranger, claims(issuer, 0, now)), [401]),
        ("payload swapped under a valid signature", f"{header}.{forged_payload}.{signature}", [401]),
        ("expired", mint(key, claims(issuer, 0, now, iat=now - 7200, exp=now - 3600)), [401]),
        ("wrong audience", mint(key, claims(issuer, 0, now, aud="https://other/api")), [401, 403]),
        ("wrong issuer", mint(key, claims("https://evil.example/", 0, now)), [401, 403]),
        ("missing scope read:forecast", mint(key, claims(issuer, 0, now, scope="read:inventory")), [403]),
        ("alg none", _alg_none(claims(issuer, 0, now)), [401]),
    ]
    (out / "bad-tokens.json").write_text(json.dumps(
        [{"name": n, "token": t, "expect": e} for n, t, e in bad], indent=1))
    return {"kid": KID, "issuer": issuer, "audience": AUDIENCE, "distinct": distinct,
            "cold": cold, "expires": now + LIFETIME_SECONDS}


def _fresh_key_pem(path: Path) -> bytes:
    openssl_rsa_key(path)
    return path.read_bytes()


def _alg_none(body: dict) -> str:
    import base64

    def b64(obj) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64(body)}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("issuer")
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--cold", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(make(args.out, args.issuer, args.distinct, args.cold)))


if __name__ == "__main__":
    main()
