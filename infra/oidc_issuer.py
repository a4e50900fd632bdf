"""Stand-in OpenID Connect issuers for the local stack: `google`, `apple` and `oidc` (generic).

Each serves what the real one publishes — its discovery document
(`/_ferrite/oidc/<provider>/.well-known/openid-configuration`) and its key set (`…/jwks`) —
and, for tests and `make smoke`, mints ID tokens shaped as that provider's
(`POST …/token` with the claims wanted): Google's and Apple's signed RS256 with an RSA key,
the generic issuer's ES256 with a P-256 key; Apple's `email_verified` a string, no `name`.
Keys are made when the endpoint starts (and never leave it). A token request may ask for what
an attacker would send: another key (`"key": "stranger"`, not published), another `alg` in
the header (`"none"`, `"HS256"` keyed with the published key), a made-up `kid`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PROVIDERS = ("google", "apple", "oidc")
PREFIX = "/_ferrite/oidc/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Key:
    """A signing key and its public JWK."""

    def __init__(self, kind: str, kid: str) -> None:
        self.kind, self.kid = kind, kid
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": b64url(uint(numbers.n)), "e": b64url(uint(numbers.e))}
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                        "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}

    @property
    def alg(self) -> str:
        return "RS256" if self.kind == "RSA" else "ES256"

    def sign(self, message: bytes) -> bytes:
        if self.kind == "RSA":
            return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Issuers:
    def __init__(self) -> None:
        self.keys = {
            "google": Key("RSA", "google-1"),
            "apple": Key("RSA", "apple-1"),
            "oidc": Key("EC", "oidc-1"),
        }
        # Never published: what a forger signs with.
        self.strangers = {p: Key(self.keys[p].kind, self.keys[p].kid) for p in PROVIDERS}

    @staticmethod
    def issuer(base: str, provider: str) -> str:
        return f"{base}{PREFIX}{provider}"

    def handle(self, method: str, path: str, base: str, payload: dict[str, Any]) -> tuple[int, Any] | None:
        """The answer to a request under `/_ferrite/oidc/`, or None if it is not one."""
        rest = path[len(PREFIX):]
        provider, _, route = rest.partition("/")
        if provider not in PROVIDERS:
            return None
        issuer = self.issuer(base, provider)
        if route == ".well-known/openid-configuration" and method == "GET":
            return 200, {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks",
                "id_token_signing_alg_values_supported": [self.keys[provider].alg],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
            }
        if route == "jwks" and method == "GET":
            return 200, {"keys": [self.keys[provider].jwk]}
        if route == "token" and method == "POST":
            return 200, {"idToken": self.mint(provider, issuer, payload)}
        return None

    def mint(self, provider: str, issuer: str, request: dict[str, Any]) -> str:
        key = self.strangers[provider] if request.get("key") == "stranger" else self.keys[provider]
        now = int(time.time())
        claims: dict[str, Any] = {"iss": issuer, "aud": "ferrite-local", "iat": now, "exp": now + 3600}
        if provider == "google":
            claims |= {"email_verified": True, "name": "Ada Lovelace"}
        elif provider == "apple":
            claims |= {"email_verified": "true", "is_private_email": "false"}
        else:
            claims |= {"email_verified": True, "given_name": "Ada", "family_name": "Lovelace"}
        claims |= request.get("claims", {})
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"} | request.get("header", {})
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
        if header["alg"] == "none":
            signature = b""
        elif header["alg"] == "HS256":
            # The published key as an HMAC secret: the classic algorithm confusion.
            secret = json.dumps(self.keys[provider].jwk, sort_keys=True).encode()
            signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
        else:
            signature = key.sign(signing_input)
        return f"{signing_input.decode()}.{b64url(signature)}"
