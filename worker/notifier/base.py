"""Notifier interface shared by the worker and every push implementation.

A notifier takes already-rendered :class:`PushMessage` objects and reports one
:class:`SendResult` per message, in the same order.  The worker decides what to
do with each outcome:

``"sent"``
    Accepted by the push service.
``"dead_token"``
    The registration token can never work again (UNREGISTERED, SENDER_ID_MISMATCH,
    INVALID_ARGUMENT about the token, or an empty token): deactivate the device.
``"retry"``
    Transient (QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, any 5xx, network errors and
    timeouts): try again later, no sooner than ``retry_after`` seconds when present
    (see :func:`worker.notifier.backoff.retry_delay`).
``"failed"``
    Anything else: the message is not retried and the device is kept.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, runtime_checkable

Outcome = Literal["sent", "dead_token", "retry", "failed"]

SENT: Final = "sent"
DEAD_TOKEN: Final = "dead_token"
RETRY: Final = "retry"
FAILED: Final = "failed"
OUTCOMES: Final[frozenset[str]] = frozenset({SENT, DEAD_TOKEN, RETRY, FAILED})

#: FCM's limit for one ``send_each`` call; implementations chunk larger inputs.
MAX_BATCH_SIZE: Final = 500
#: FCM accepts an Android TTL of at most 4 weeks.
MAX_TTL_SECONDS: Final = 28 * 24 * 3600
#: APNs rejects an ``apns-collapse-id`` longer than 64 bytes.
MAX_COLLAPSE_KEY_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One push to one device.

    Everything here passes through Google's and Apple's push services and
    ``title``/``body`` show on the lock screen, so keep them generic and let
    ``data`` carry only opaque identifiers (e.g. ``{"prompt_id": "42", "kind":
    "checkin"}``), never clinical content.  ``data`` keys and values are strings,
    as FCM requires.  An empty ``token`` is accepted here (it is a data
    problem of the device row, not a programming error) and reported as
    ``dead_token`` by the FCM notifier.
    """

    token: str
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str
    ttl_seconds: int

    def __post_init__(self) -> None:
        for name in ("token", "title", "body", "collapse_key"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"PushMessage.{name} must be a str")
        if not isinstance(self.data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.data.items()
        ):
            raise TypeError("PushMessage.data must be a dict[str, str]")
        if len(self.collapse_key.encode("utf-8")) > MAX_COLLAPSE_KEY_BYTES:
            raise ValueError(f"PushMessage.collapse_key must be at most {MAX_COLLAPSE_KEY_BYTES} bytes")
        if isinstance(self.ttl_seconds, bool) or not isinstance(self.ttl_seconds, int):
            raise TypeError("PushMessage.ttl_seconds must be an int")
        if not 0 <= self.ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"PushMessage.ttl_seconds must be within 0..{MAX_TTL_SECONDS}")


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of sending one :class:`PushMessage`.

    ``error_code`` is the most specific code known (the FCM ``errorCode`` such as
    ``"UNREGISTERED"``, else the Google API status such as ``"UNAVAILABLE"``, else
    ``"HTTP_<status>"`` for a non-JSON error reply, or one of ``"NETWORK_ERROR"``,
    ``"DEADLINE_EXCEEDED"``, ``"EMPTY_TOKEN"``, ``"INVALID_MESSAGE"``,
    ``"MISSING_MESSAGE_ID"``).  ``retry_after`` is the server's Retry-After in seconds,
    if it sent one.  ``message_id`` is the provider's id for a sent message.
    """

    token: str
    outcome: Outcome
    error_code: str | None = None
    retry_after: float | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")


@runtime_checkable
class Notifier(Protocol):
    """Sends push messages.

    ``send`` returns exactly one result per message, in input order, and never
    raises for a per-message delivery problem.  Implementations chunk the input
    into batches of at most :data:`MAX_BATCH_SIZE` themselves.
    """

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]: ...


def chunked(messages: Sequence[PushMessage], size: int = MAX_BATCH_SIZE) -> Iterator[Sequence[PushMessage]]:
    """Yield consecutive slices of at most ``size`` messages."""
    if size < 1:
        raise ValueError("size must be >= 1")
    for start in range(0, len(messages), size):
        yield messages[start : start + size]
