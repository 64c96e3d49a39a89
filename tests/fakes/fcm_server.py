"""A fake FCM HTTP v1 server on 127.0.0.1 for tests and benchmarks.

It answers ``POST /v1/projects/<project>/messages:send`` the way FCM does::

    200 {"name": "projects/<project>/messages/<n>"}
    4xx/5xx {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
             "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                          "errorCode": "UNREGISTERED"}]}}

Responses are scripted per registration token with :meth:`FakeFcmServer.program`
(a list consumed in order, then the default).  A script entry is a
:class:`FakeResponse` or a tuple ``(status, fcm_error_code)`` /
``(status, fcm_error_code, headers)``, e.g.
``[(503, "UNAVAILABLE", {"Retry-After": "2"}), (200, None)]``.

Storm mode (:meth:`FakeFcmServer.storm`): for a bounded period that starts with the first request
after the call, a seeded share of the unscripted requests (default 50%) gets one of the storm's
error replies instead of the default, e.g. a 500 or a 429 with Retry-After.  Every request is
recorded with its arrival time (``time.time()``, the clock the worker schedules retries with) and
the headers it was answered with, so a test can check that retries honour Retry-After.

Built for throughput: HTTP/1.1 keep-alive with Content-Length, TCP_NODELAY, a
deep listen backlog, daemon handler threads and no per-request logging.
"""

import contextlib
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")

# Google API status names for the HTTP statuses FCM uses.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Messages as FCM words them (INVALID_ARGUMENT is FCM's reply for a malformed/invalid token).
DEFAULT_MESSAGES: dict[str, str] = {
    "UNREGISTERED": "Requested entity was not found.",
    "SENDER_ID_MISMATCH": "SenderId mismatch",
    "INVALID_ARGUMENT": "The registration token is not a valid FCM registration token",
    "QUOTA_EXCEEDED": "Quota exceeded for quota metric 'Sent messages per minute'.",
    "UNAVAILABLE": "The service is currently unavailable.",
    "INTERNAL": "Internal error encountered.",
    "THIRD_PARTY_AUTH_ERROR": "Auth error from APNS or Web Push Service",
}


@dataclass(frozen=True)
class FakeResponse:
    """One scripted reply.

    ``error_code`` is the FCM ``errorCode`` put in ``details`` (None for no FcmError
    detail).  ``field_violations`` adds a ``google.rpc.BadRequest`` detail.
    ``raw_body`` replaces the JSON body entirely (e.g. an HTML 502 page).
    ``delay`` sleeps before answering.
    """

    status: int = 200
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    field_violations: Sequence[tuple[str, str]] = ()
    raw_body: bytes | None = None
    delay: float = 0.0


ResponseSpec = FakeResponse | tuple[Any, ...]


def as_response(spec: ResponseSpec) -> FakeResponse:
    if isinstance(spec, FakeResponse):
        return spec
    status, error_code, *rest = spec
    headers = rest[0] if rest else {}
    return FakeResponse(status=status, error_code=error_code, headers=dict(headers))


def error_body(
    status: int,
    error_code: str | None,
    message: str | None = None,
    field_violations: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if error_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if field_violations:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": f, "description": d} for f, d in field_violations],
            }
        )
    error: dict[str, Any] = {
        "code": status,
        "message": message or DEFAULT_MESSAGES.get(error_code or "", f"HTTP {status}"),
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received, with what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON (None if the body was not JSON)
    status: int
    message_id: str | None
    received_at: float = 0.0  # time.time() when the request had been read
    response_headers: Mapping[str, str] = field(default_factory=dict)
    storm: bool = False  # answered by the storm (an injected failure)

    @property
    def token(self) -> str | None:
        try:
            return self.body["message"]["token"]
        except (KeyError, TypeError):
            return None

    @property
    def retry_after(self) -> float | None:
        """The Retry-After (delta-seconds) the fake answered with, if any."""
        for name, value in self.response_headers.items():
            if name.lower() == "retry-after":
                try:
                    return float(value)
                except ValueError:
                    return None
        return None


@dataclass
class _Storm:
    seconds: float
    failure_rate: float
    failures: tuple[FakeResponse, ...]
    rng: random.Random
    started_at: float | None = None  # set by the first request after storm() was called

    def pick(self, now: float) -> FakeResponse | None:
        if self.started_at is None:
            self.started_at = now
        if now >= self.started_at + self.seconds or self.rng.random() >= self.failure_rate:
            return None
        return self.rng.choice(self.failures)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default (5) drops SYNs under a burst of 500 connects
    fake: "FakeFcmServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is normal here; don't print tracebacks


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._reply(411, b"", {})
            return
        raw = self.rfile.read(int(length))
        received_at = time.time()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fake = self.server.fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        match = _SEND_PATH.match(self.path)
        if match is None:
            payload = json.dumps(error_body(404, None, f"unknown path {self.path}")).encode()
            fake._record(RecordedRequest("POST", self.path, headers, body, 404, None, received_at))
            self._reply(404, payload, {})
            return
        message = body.get("message") if isinstance(body, dict) else None
        token = message.get("token") if isinstance(message, dict) else None
        response, message_id, stormed = fake._next_response(token, match.group(1), received_at)
        if response.raw_body is not None:
            payload = response.raw_body
        elif response.status == 200:
            payload = json.dumps({"name": message_id}).encode()
        else:
            message_id = None
            payload = json.dumps(
                error_body(response.status, response.error_code, response.message, response.field_violations)
            ).encode()
        # Recorded on arrival (before any delay), so wait_for() counts requests received.
        fake._record(
            RecordedRequest(
                "POST",
                self.path,
                headers,
                body,
                response.status,
                message_id,
                received_at,
                dict(response.headers),
                stormed,
            )
        )
        delay = response.delay or fake.latency
        if delay:
            time.sleep(delay)
        self._reply(response.status, payload, response.headers)

    def do_GET(self) -> None:
        self.close_connection = True
        self._reply(405, b"", {})

    def _reply(self, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class FakeFcmServer:
    """Fake FCM v1 endpoint; use as a context manager and point the notifier at ``.url``."""

    def __init__(self, default: ResponseSpec = (200, None), latency: float = 0.0) -> None:
        self.latency = latency
        self._default = as_response(default)
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[FakeResponse]] = {}
        self._ids = itertools.count(1)
        self._storm: _Storm | None = None
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-fcm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:  # unblock handler threads idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting -------------------------------------------------------------------------
    def program(self, token: str, responses: Sequence[ResponseSpec]) -> None:
        """Replace the script for ``token``; entries are consumed in order, then the default applies."""
        with self._cond:
            self._scripts[token] = deque(as_response(r) for r in responses)

    def set_default(self, response: ResponseSpec) -> None:
        with self._cond:
            self._default = as_response(response)

    def reset(self) -> None:
        """Forget recorded requests, scripts and any storm and restart message ids at 1 (the default
        is kept)."""
        with self._cond:
            self._requests.clear()
            self._scripts.clear()
            self._storm = None
            self._ids = itertools.count(1)

    def storm(
        self,
        seconds: float,
        failures: Sequence[ResponseSpec] = (
            (500, "INTERNAL"),
            (429, "QUOTA_EXCEEDED", {"Retry-After": "1"}),
        ),
        failure_rate: float = 0.5,
        seed: int = 0,
    ) -> None:
        """For ``seconds`` from the next request on, answer a ``failure_rate`` share of the requests
        without a script with one of ``failures`` (a seeded random pick); then the default again."""
        if seconds < 0 or not 0.0 <= failure_rate <= 1.0 or not failures:
            raise ValueError("seconds >= 0, 0 <= failure_rate <= 1 and at least one failure")
        with self._cond:
            self._storm = _Storm(
                seconds, failure_rate, tuple(as_response(f) for f in failures), random.Random(seed)
            )

    @property
    def storm_window(self) -> tuple[float, float] | None:
        """(start, end) of the storm in ``time.time()`` seconds, once its first request arrived."""
        with self._cond:
            storm = self._storm
            if storm is None or storm.started_at is None:
                return None
            return storm.started_at, storm.started_at + storm.seconds

    # -- inspection ------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._cond:
            return len(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` requests arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= n, timeout=timeout)

    # -- used by the handler ---------------------------------------------------------------
    def _next_response(self, token: str | None, project: str, now: float) -> tuple[FakeResponse, str, bool]:
        """The reply, the message name (used when it is a 200) and whether the storm chose it."""
        with self._cond:
            script = self._scripts.get(token) if token is not None else None
            stormed = None
            if script:
                response = script.popleft()
            else:
                stormed = self._storm.pick(now) if self._storm is not None else None
                response = stormed or self._default
            return response, f"projects/{project}/messages/{next(self._ids)}", stormed is not None

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
