"""Care-team webhooks (paging systems, chat): HMAC-SHA256 signed JSON, no patient identity or content."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

SIGNATURE_HEADER = "X-Companion-Signature"
TIMESTAMP_HEADER = "X-Companion-Timestamp"

# One keep-alive session per process: a paging system is usually the same host every time, and a fresh
# TLS handshake per alert would add to the time until a clinician is paged.
_session = requests.Session()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over "<timestamp>.<body>", so a captured request cannot be replayed later with a
    new timestamp (receivers should also reject old timestamps)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def post_webhook(url: str, secret: str, payload: dict, timeout: float = 5.0) -> None:
    """POST the signed payload; raises WebhookError on anything but a 2xx."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        response = _session.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise WebhookError(type(exc).__name__) from exc
    if not 200 <= response.status_code < 300:
        retry_after = response.headers.get("Retry-After")
        raise WebhookError(
            f"HTTP {response.status_code}",
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
