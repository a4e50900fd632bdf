"""The local stack's stand-in OpenID Connect issuers (infra/oidc_issuer.py): what they publish
verifies what they mint, shaped as each provider's — and a forger's token does not."""

from __future__ import annotations

import base64
import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

import oidc_issuer  # noqa: E402

BASE = "http://127.0.0.1:4566"


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verifies(jwk: dict, token: str) -> bool:
    header, payload, signature = token.split(".")
    message, sig = f"{header}.{payload}".encode(), unb64(signature)
    try:
        if jwk["kty"] == "RSA":
            n, e = (int.from_bytes(unb64(jwk[k]), "big") for k in ("n", "e"))
            rsa.RSAPublicNumbers(e, n).public_key().verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            x, y = (int.from_bytes(unb64(jwk[k]), "big") for k in ("x", "y"))
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


class StandInIssuers(unittest.TestCase):
    issuers = oidc_issuer.Issuers()

    def get(self, provider: str, route: str) -> dict:
        status, body = self.issuers.handle("GET", f"/_ferrite/oidc/{provider}/{route}", BASE, {})
        self.assertEqual(status, 200)
        return body

    def mint(self, provider: str, request: dict) -> tuple[dict, dict, str]:
        status, body = self.issuers.handle("POST", f"/_ferrite/oidc/{provider}/token", BASE, request)
        self.assertEqual(status, 200)
        token = body["idToken"]
        header, payload, _ = token.split(".")
        return json.loads(unb64(header)), json.loads(unb64(payload)), token

    def test_each_issuer_publishes_the_key_that_verifies_what_it_mints(self) -> None:
        for provider, alg in (("google", "RS256"), ("apple", "RS256"), ("oidc", "ES256")):
            discovery = self.get(provider, ".well-known/openid-configuration")
            self.assertEqual(discovery["issuer"], f"{BASE}/_ferrite/oidc/{provider}")
            self.assertEqual(discovery["jwks_uri"], f"{discovery['issuer']}/jwks")
            [jwk] = self.get(provider, "jwks")["keys"]
            header, claims, token = self.mint(provider, {"claims": {"sub": "1", "nonce": "n" * 16}})
            self.assertEqual((header["alg"], header["kid"]), (alg, jwk["kid"]))
            self.assertEqual(claims["iss"], discovery["issuer"])
            self.assertTrue(verifies(jwk, token), provider)
            _, _, forged = self.mint(provider, {"claims": {"sub": "1"}, "key": "stranger"})
            self.assertFalse(verifies(jwk, forged), provider)

    def test_tokens_are_shaped_as_each_providers(self) -> None:
        _, google, _ = self.mint("google", {})
        _, apple, _ = self.mint("apple", {})
        self.assertIs(google["email_verified"], True)
        self.assertIn("name", google)
        self.assertEqual(apple["email_verified"], "true")
        self.assertNotIn("name", apple)
        _, without, _ = self.mint("google", {"claims": {"name": None}})
        self.assertNotIn("name", without)

    def test_an_unknown_provider_or_route_is_not_served(self) -> None:
        self.assertIsNone(self.issuers.handle("GET", "/_ferrite/oidc/facebook/jwks", BASE, {}))
        self.assertIsNone(self.issuers.handle("GET", "/_ferrite/oidc/google/token", BASE, {}))


if __name__ == "__main__":
    unittest.main()
