"""HMAC-SHA256 request signatures, as Shopify signs its webhooks.

The signature is base64(HMAC-SHA256(secret, raw body)); it is compared in constant time.
Track calls are signed the same way with the collector's own secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"
TAILOR_HEADER = "X-Tailor-Signature"


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str | None, body: bytes, signature: str | None) -> bool:
    """True only when a secret is configured and the signature matches the body."""
    if not secret or not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), signature.strip().encode())
