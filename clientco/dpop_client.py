"""ClientCo's DPoP client (RFC 9449): a token bound to our key, and a fresh proof per call.

A DPoP-bound token is worthless without the private key that signs the proofs, so a token
copied from a log cannot be replayed. Usage, with the credentials file of the README:

    pip install "pyjwt[crypto]>=2.8" "cryptography>=42" "requests>=2.31"
    python clientco/dpop_client.py clientco/credentials.json https://api.saasco.example/forecast

Against `gateway demo`, pass the demo's credentials file and http://127.0.0.1:PORT/forecast.
Keep the key for the token's lifetime (it is bound to it); a new key needs a new token.
"""

import base64
import hashlib
import json
import sys
import time
import uuid

import jwt  # PyJWT
import requests
from cryptography.hazmat.primitives.asymmetric import ec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DpopKey:
    """An ES256 key pair; the public half travels in every proof's header (`jwk`)."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }

    def proof(self, method: str, url: str, access_token: str | None = None, nonce: str | None = None) -> str:
        """RFC 9449 §4.2: typ dpop+jwt, the public jwk, htm/htu/iat/jti, and ath with a token."""
        claims = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": url.split("?")[0].split("#")[0],
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = _b64(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})


def token_url(credentials: dict) -> str:
    if credentials.get("token_url"):
        return credentials["token_url"]
    if credentials.get("issuer"):
        return credentials["issuer"].rstrip("/") + "/oauth/token"
    return f"https://{credentials['domain']}/oauth/token"


def bound_token(key: DpopKey, credentials: dict) -> str:
    """The client-credentials grant with a proof: Auth0 answers token_type DPoP (cnf.jkt = our key)."""
    url = token_url(credentials)
    body = {k: credentials[k] for k in ("client_id", "client_secret", "audience")}
    body["grant_type"] = "client_credentials"
    answer = requests.post(url, json=body, headers={"DPoP": key.proof("POST", url)}, timeout=10)
    if answer.status_code == 400 and "DPoP-Nonce" in answer.headers:  # the server asks for a nonce
        proof = key.proof("POST", url, nonce=answer.headers["DPoP-Nonce"])
        answer = requests.post(url, json=body, headers={"DPoP": proof}, timeout=10)
    answer.raise_for_status()
    token = answer.json()
    if token.get("token_type") != "DPoP":
        raise SystemExit("the token is not DPoP-bound: turn on DPoP for the API in Auth0")
    return token["access_token"]


def call(key: DpopKey, token: str, method: str, url: str) -> requests.Response:
    """One API call; with `[auth] dpop_nonce` on, the gateway's first 401 carries the nonce."""
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, token)}
    response = requests.request(method, url, headers=headers, timeout=10)
    nonce = response.headers.get("DPoP-Nonce")
    if response.status_code == 401 and nonce:
        headers["DPoP"] = key.proof(method, url, token, nonce)
        response = requests.request(method, url, headers=headers, timeout=10)
    return response


if __name__ == "__main__":
    credentials_file, api_url = sys.argv[1], sys.argv[2]
    with open(credentials_file, encoding="utf-8") as f:
        credentials = json.load(f)
    key = DpopKey()
    token = bound_token(key, credentials)
    response = call(key, token, "GET", api_url)
    print(response.status_code, response.text)
    stolen = requests.get(api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    print("the same token without its key:", stolen.status_code, stolen.headers.get("WWW-Authenticate"))
