"""Firebase Cloud Messaging notifier built on firebase-admin's ``messaging.send_each``.

Retry policy
------------
Out of the box firebase-admin 7.7.0 retries inside the HTTP client: the messaging
service's ``requests`` session uses ``_http_client.DEFAULT_RETRY_CONFIG`` (urllib3
``Retry(connect=1, read=1, status=4, status_forcelist=[500, 503], backoff_factor=0.5)``
with the default ``total=10`` and ``respect_retry_after_header=True``).  A 500/503 is
therefore sent 5 times with 0+1+2+4 s of sleeps, and a 429/503 carrying Retry-After
is retried 4 times sleeping Retry-After each time (up to urllib3's 6 h cap), all
while a ``send_each`` worker thread is blocked.  :class:`FcmNotifier` replaces the
session's adapters with one that never retries (``Retry(total=0)``) so that every
failure surfaces at once as a ``"retry"`` result and the worker's own backoff
(:func:`worker.notifier.backoff.retry_delay`) is the only retry policy.

What remains: google-auth's ``AuthorizedSession`` re-sends a request after
refreshing the credential when it gets HTTP 401 (at most twice); that is token
renewal, not delivery retrying, so it is left alone.

Throughput
----------
``send_each`` runs one thread per message of a chunk (up to 500), so the keep-alive
pool holds as many connections as a chunk has messages: with fewer, the surplus
threads queue on the pool's lock, which costs CPU, not only time.  The session does
not consult the environment per request (``trust_env = False``): requests would
otherwise look for ``~/.netrc`` and re-read the proxy variables on every POST, about
a fifth of the client CPU per message.  Proxies (``HTTPS_PROXY``/``NO_PROXY``) and a
CA bundle (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``) are read once, when the notifier
is created; a netrc entry is never used (it would replace the bearer token).

The async client (``send_each_async``, httpx) is not used: against the same server
it cost about three times the CPU per message (httpcore's pool scans its queue for
every request when 500 requests share 100 connections).
"""

import email.utils
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, timedelta
from types import TracebackType
from typing import Any, Final, Self

import firebase_admin
import google.auth.credentials
import requests
from firebase_admin import credentials, exceptions, messaging
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from worker.notifier.base import (
    DEAD_TOKEN,
    FAILED,
    MAX_BATCH_SIZE,
    RETRY,
    SENT,
    PushMessage,
    SendResult,
)

DEFAULT_FCM_ENDPOINT: Final = "https://fcm.googleapis.com"
SEND_PATH: Final = "/v1/projects/{project_id}/messages:send"
DEFAULT_TIMEOUT_SECONDS: Final = 15.0
DEFAULT_MAX_CONNECTIONS: Final = MAX_BATCH_SIZE  # one per send_each thread

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# Our policy: never retry inside the HTTP client, never sleep on Retry-After there.
NO_RETRY: Final = Retry(
    total=0,
    connect=0,
    read=0,
    redirect=0,
    status=0,
    other=0,
    raise_on_status=False,
    respect_retry_after_header=False,
)


class _StaticGoogleCredentials(google.auth.credentials.Credentials):
    """A google-auth credential holding a fixed, never-expiring bearer token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token  # expiry stays None: valid forever, refresh never needed

    def refresh(self, request: Any) -> None:
        # Nothing to renew.  (On a 401 AuthorizedSession calls this and re-sends.)
        pass


class StaticTokenCredential(credentials.Base):
    """A firebase-admin credential sending ``Authorization: Bearer <token>``; for local fake servers."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("token must be non-empty")
        self._g_credential = _StaticGoogleCredentials(token)

    def get_credential(self) -> google.auth.credentials.Credentials:
        return self._g_credential


def credential_from_env(
    path: str | None = None, environ: Mapping[str, str] | None = None
) -> credentials.Base:
    """The production credential.

    ``path`` (a service account JSON file) wins, then ``GOOGLE_APPLICATION_CREDENTIALS``
    from ``environ`` (default ``os.environ``); with neither, Application Default
    Credentials (e.g. the GCP metadata server) are used.  A missing or malformed
    service account file raises here (``OSError`` / ``ValueError``).
    """
    env = os.environ if environ is None else environ
    path = path or env.get("GOOGLE_APPLICATION_CREDENTIALS") or None
    if path:
        return credentials.Certificate(path)
    return credentials.ApplicationDefault()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/garbage."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def retry_after_from(exc: exceptions.FirebaseError) -> float | None:
    """Retry-After (seconds) of the HTTP response behind ``exc`` (``exc.http_response.headers``), if any."""
    response = exc.http_response
    return None if response is None else parse_retry_after(response.headers.get("Retry-After"))


def _error_details(response: requests.Response | None) -> tuple[str | None, str | None, str, list[str]]:
    """(FCM errorCode, Google API status, message, field-violation fields) from an error body."""
    if response is None:
        return None, None, "", []
    try:
        body = json.loads(response.content.decode("utf-8", errors="replace"))
    except ValueError:
        return None, None, "", []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, "", []
    fcm_code: str | None = None
    fields: list[str] = []
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            fcm_code = detail["errorCode"]
        elif detail.get("@type") == _BAD_REQUEST_TYPE:
            violations = detail.get("fieldViolations")
            for violation in violations if isinstance(violations, list) else []:
                if isinstance(violation, dict) and isinstance(violation.get("field"), str):
                    fields.append(violation["field"])
    status = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return fcm_code, status, message, fields


def _is_token_problem(message: str, fields: list[str]) -> bool:
    # FCM answers an invalid token with INVALID_ARGUMENT "The registration token is not a
    # valid FCM registration token" (no field violation); a bad payload names its field
    # (e.g. "message.data[0].value").  Only the former may deactivate the device.
    return "message.token" in fields or "registration token" in message.lower()


_NETWORK_CAUSES = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_RETRYABLE = (
    messaging.QuotaExceededError,
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.ResourceExhaustedError,
)


def classify_error(token: str, exc: exceptions.FirebaseError) -> SendResult:
    """Map a firebase-admin send exception to a :class:`SendResult`."""
    response = exc.http_response
    if response is None:
        # No HTTP response: network failure or a broken/unparseable reply.
        cause = exc.cause
        if isinstance(cause, requests.exceptions.Timeout):
            return SendResult(token, RETRY, "DEADLINE_EXCEEDED")
        if isinstance(cause, _NETWORK_CAUSES):
            return SendResult(token, RETRY, "NETWORK_ERROR")
        return SendResult(token, FAILED, exc.code)

    fcm_code, status, message, fields = _error_details(response)
    error_code = fcm_code or status or f"HTTP_{response.status_code}"
    retry_after = retry_after_from(exc)
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return SendResult(token, DEAD_TOKEN, error_code, retry_after)
    if isinstance(exc, exceptions.InvalidArgumentError):
        outcome = DEAD_TOKEN if _is_token_problem(message, fields) else FAILED
        return SendResult(token, outcome, error_code, retry_after)
    if isinstance(exc, _RETRYABLE) or response.status_code >= 500 or response.status_code == 429:
        return SendResult(token, RETRY, error_code, retry_after)
    return SendResult(token, FAILED, error_code, retry_after)


def _to_result(token: str, response: messaging.SendResponse) -> SendResult:
    if response.exception is not None:
        return classify_error(token, response.exception)
    if response.message_id:
        return SendResult(token, SENT, message_id=response.message_id)
    # 2xx without a message name: FCM probably accepted it, so don't resend.
    return SendResult(token, FAILED, "MISSING_MESSAGE_ID")


def _read_environment_once(session: requests.Session, base_url: str) -> None:
    """What requests would take from the environment on every request, taken once (see above)."""
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


class FcmNotifier:
    """Sends :class:`PushMessage` objects through FCM HTTP v1 with firebase-admin.

    Each instance owns its own firebase-admin app (``app_name``, default a unique
    name); call :meth:`close` (or use it as a context manager) to delete it.
    ``endpoint`` (e.g. ``"http://127.0.0.1:8080"``) redirects messages:send away
    from ``https://fcm.googleapis.com`` for this app only.  ``timeout`` is the
    per-request HTTP timeout; ``max_connections`` bounds the keep-alive pool
    (``send_each`` runs one thread per message in a chunk; with a smaller pool the
    surplus threads wait for a pooled connection instead of opening throwaway
    ones).  ``clock`` supplies "now" for ``apns-expiration``.
    """

    def __init__(
        self,
        project_id: str,
        credential: credentials.Base,
        endpoint: str | None = None,
        app_name: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not project_id:
            raise ValueError("project_id is required")
        base_url = (endpoint or DEFAULT_FCM_ENDPOINT).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http:// or https:// base URL")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._clock = clock
        self._closed = False
        self._app = firebase_admin.initialize_app(
            credential,
            {"projectId": project_id, "httpTimeout": timeout},
            name=app_name or f"fcm-notifier-{uuid.uuid4().hex}",
        )
        try:
            service = messaging._get_messaging_service(self._app)
            # Per-app instance attribute; the class constant FCM_URL is left untouched.
            service._fcm_url = base_url + SEND_PATH.format(project_id=project_id)
            adapter = HTTPAdapter(
                pool_connections=4, pool_maxsize=max_connections, pool_block=True, max_retries=NO_RETRY
            )
            session = service._client.session
            # firebase-admin mounts a retrying adapter on "https://fcm.googleapis.com" as well as
            # on "http://" and "https://"; requests picks the longest matching prefix, so cover all.
            for prefix in {"http://", "https://", DEFAULT_FCM_ENDPOINT, base_url}:
                session.mount(prefix, adapter)
            _read_environment_once(session, base_url)
        except Exception:
            firebase_admin.delete_app(self._app)
            raise
        self._service = service

    @property
    def app(self) -> firebase_admin.App:
        return self._app

    @property
    def send_url(self) -> str:
        return self._service._fcm_url

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        if self._closed:
            raise RuntimeError("FcmNotifier is closed")
        results: list[SendResult | None] = [None] * len(messages)
        for start in range(0, len(messages), MAX_BATCH_SIZE):
            chunk = messages[start : start + MAX_BATCH_SIZE]
            indexes: list[int] = []
            batch: list[messaging.Message] = []
            for offset, push in enumerate(chunk):
                if not push.token.strip():
                    results[start + offset] = SendResult(push.token, DEAD_TOKEN, "EMPTY_TOKEN")
                    continue
                indexes.append(start + offset)
                batch.append(self.build_message(push))
            self._send_batch(messages, indexes, batch, results)
        final = [r for r in results if r is not None]
        if len(final) != len(messages):  # pragma: no cover - would be a bug in _send_batch
            raise RuntimeError("a message got no result")
        return final

    def _send_batch(
        self,
        messages: Sequence[PushMessage],
        indexes: list[int],
        batch: list[messaging.Message],
        results: list[SendResult | None],
    ) -> None:
        if not batch:
            return
        try:
            response = messaging.send_each(batch, app=self._app)
        except ValueError:
            # Raised while encoding, before anything is sent: one bad message must not
            # sink the chunk.  Fail the offenders and send the rest.
            keep_indexes: list[int] = []
            keep: list[messaging.Message] = []
            for index, message in zip(indexes, batch, strict=True):
                try:
                    messaging._MessagingService.encode_message(message)
                except ValueError:
                    results[index] = SendResult(messages[index].token, FAILED, "INVALID_MESSAGE")
                else:
                    keep_indexes.append(index)
                    keep.append(message)
            if len(keep) == len(batch):
                raise
            self._send_batch(messages, keep_indexes, keep, results)
            return
        except exceptions.FirebaseError as exc:
            # Whole-chunk failure (e.g. the service-account token could not be refreshed).
            # Some messages may have gone out before it; retrying risks a duplicate, which
            # the collapse key makes harmless on the device.
            for index in indexes:
                results[index] = SendResult(messages[index].token, RETRY, exc.code)
            return
        for index, item in zip(indexes, response.responses, strict=True):
            results[index] = _to_result(messages[index].token, item)

    def build_message(self, push: PushMessage) -> messaging.Message:
        """The firebase-admin message for ``push``."""
        message = messaging.Message(
            notification=messaging.Notification(title=push.title, body=push.body),
            data=dict(push.data),
            android=messaging.AndroidConfig(
                collapse_key=push.collapse_key,
                ttl=timedelta(seconds=push.ttl_seconds),
                priority="high",
            ),
            apns=messaging.APNSConfig(
                headers={
                    "apns-collapse-id": push.collapse_key,
                    "apns-expiration": str(int(self._clock()) + push.ttl_seconds),
                    "apns-priority": "10",
                }
            ),
        )
        # firebase-admin 7.7 deprecates the ``token=`` constructor argument in favour of
        # ``fid`` (installation IDs) and warns on every call.  We hold FCM registration
        # tokens, which the v1 API still takes as ``message.token``; setting the attribute
        # avoids a per-message warning without touching the global warning filters.
        message.token = push.token
        return message

    def close(self) -> None:
        """Close pooled connections and delete the firebase-admin app.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._service._client.session.close()
        finally:
            firebase_admin.delete_app(self._app)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
