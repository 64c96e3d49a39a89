"""FcmNotifier driven through the real firebase-admin code path against FakeFcmServer."""

import json
import random
import socket
import time
from email.utils import formatdate

import firebase_admin
import pytest
from firebase_admin import credentials, messaging

import worker.notifier.fcm as fcm_module
from tests.fakes.fcm_server import FakeFcmServer, FakeResponse
from worker.notifier.backoff import retry_delay
from worker.notifier.base import MAX_BATCH_SIZE, Notifier, PushMessage, SendResult
from worker.notifier.fcm import (
    NO_RETRY,
    FcmNotifier,
    StaticTokenCredential,
    credential_from_env,
    parse_retry_after,
)

PROJECT = "integration-test"
STATIC_TOKEN = "static-test-token"
NOW = 1_700_000_000.0


def push(token: str, **overrides) -> PushMessage:
    fields = {
        "token": token,
        "title": "Time for your evening check-in",
        "body": "Open the app when you have a quiet moment.",
        "data": {"prompt_id": "42", "kind": "checkin"},
        "collapse_key": "checkin",
        "ttl_seconds": 3600,
    }
    fields.update(overrides)
    return PushMessage(**fields)


@pytest.fixture(scope="module")
def shared_server():
    with FakeFcmServer() as fake:
        yield fake


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


@pytest.fixture(scope="module")
def notifier(shared_server):
    # Module-scoped: creating a firebase-admin messaging service costs ~0.2 s (it builds an
    # httpx client with three SSL contexts we never use).
    with FcmNotifier(
        PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=shared_server.url, clock=lambda: NOW
    ) as n:
        yield n


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- payload ---------------------------------------------------------------------------------


def test_sends_exact_fcm_v1_payload(server, notifier):
    results = notifier.send([push("device-token-abc123")])

    assert len(server.requests) == 1
    request = server.requests[0]
    assert results == [SendResult("device-token-abc123", "sent", message_id=request.message_id)]
    assert request.message_id == f"projects/{PROJECT}/messages/1"
    assert request.method == "POST"
    assert request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert request.headers["authorization"] == f"Bearer {STATIC_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-goog-api-format-version"] == "2"
    # The whole body, so nothing beyond the PushMessage leaks into the request.
    assert request.body == {
        "message": {
            "token": "device-token-abc123",
            "notification": {
                "title": "Time for your evening check-in",
                "body": "Open the app when you have a quiet moment.",
            },
            "data": {"prompt_id": "42", "kind": "checkin"},
            "android": {"collapse_key": "checkin", "ttl": "3600s", "priority": "high"},
            "apns": {
                "headers": {
                    "apns-collapse-id": "checkin",
                    "apns-expiration": str(int(NOW) + 3600),
                    "apns-priority": "10",
                }
            },
        }
    }


def test_empty_data_and_zero_ttl(server, notifier):
    notifier.send([push("tok-zero", data={}, ttl_seconds=0)])
    message = server.requests[0].body["message"]
    assert "data" not in message
    assert message["android"]["ttl"] == "0s"
    assert message["apns"]["headers"]["apns-expiration"] == str(int(NOW))


def test_no_deprecation_warning_for_token(server, notifier, recwarn):
    notifier.send([push("tok-warn")])
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


# -- batching --------------------------------------------------------------------------------


def test_chunks_into_send_each_calls_of_at_most_500(server, notifier, monkeypatch):
    calls: list[int] = []
    real_send_each = messaging.send_each

    def counting_send_each(messages, dry_run=False, app=None):
        calls.append(len(messages))
        assert app is notifier.app
        return real_send_each(messages, dry_run=dry_run, app=app)

    monkeypatch.setattr(fcm_module.messaging, "send_each", counting_send_each)
    tokens = [f"tok-{i:05d}" for i in range(1203)]
    server.program("tok-00007", [(404, "UNREGISTERED")])
    server.program("tok-01202", [(503, "UNAVAILABLE")])

    results = notifier.send([push(t) for t in tokens])

    assert calls == [500, 500, 203]
    assert max(calls) <= MAX_BATCH_SIZE
    requests = server.requests
    assert len(requests) == 1203
    assert sorted(r.token for r in requests) == tokens  # each token exactly once
    assert [r.token for r in results] == tokens  # same order as the input
    ids = {r.token: r.message_id for r in requests}
    for result in results:
        if result.token == "tok-00007":
            assert (result.outcome, result.error_code) == ("dead_token", "UNREGISTERED")
        elif result.token == "tok-01202":
            assert (result.outcome, result.error_code) == ("retry", "UNAVAILABLE")
        else:
            assert result.outcome == "sent"
            assert result.message_id == ids[result.token]


def test_empty_input_sends_nothing(server, notifier):
    assert notifier.send([]) == []
    assert server.request_count == 0


def test_mixed_outcomes_keep_input_order(server, notifier):
    server.program("dead", [(404, "UNREGISTERED")])
    server.program("busy", [(429, "QUOTA_EXCEEDED", {"Retry-After": "30"})])
    server.program("weird", [(403, "THIRD_PARTY_AUTH_ERROR")])
    tokens = ["ok-1", "dead", "", "busy", "weird", "ok-2"]

    results = notifier.send([push(t) for t in tokens])

    assert [(r.token, r.outcome, r.error_code) for r in results] == [
        ("ok-1", "sent", None),
        ("dead", "dead_token", "UNREGISTERED"),
        ("", "dead_token", "EMPTY_TOKEN"),
        ("busy", "retry", "QUOTA_EXCEEDED"),
        ("weird", "failed", "THIRD_PARTY_AUTH_ERROR"),
        ("ok-2", "sent", None),
    ]
    assert results[3].retry_after == 30.0
    assert server.request_count == 5  # the empty token is never sent


def test_one_unencodable_message_does_not_sink_the_chunk(server, notifier):
    bad = push("tok-bad")
    object.__setattr__(bad, "data", {"count": 3})  # bypass validation: not a str value
    results = notifier.send([push("tok-a"), bad, push("tok-b")])
    assert [(r.token, r.outcome) for r in results] == [
        ("tok-a", "sent"),
        ("tok-bad", "failed"),
        ("tok-b", "sent"),
    ]
    assert results[1].error_code == "INVALID_MESSAGE"
    assert sorted(r.token for r in server.requests) == ["tok-a", "tok-b"]


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fcm_code"),
    [(404, "UNREGISTERED"), (403, "SENDER_ID_MISMATCH"), (400, "INVALID_ARGUMENT")],
)
def test_dead_token_errors(server, notifier, status, fcm_code):
    server.program("tok-dead", [(status, fcm_code)])
    [result] = notifier.send([push("tok-dead")])
    assert result == SendResult("tok-dead", "dead_token", fcm_code)
    assert server.request_count == 1


def test_invalid_argument_about_the_payload_is_failed_not_dead(server, notifier):
    server.program(
        "tok-ok",
        [
            FakeResponse(
                400,
                "INVALID_ARGUMENT",
                message="Invalid value at 'message.data[0].value' (TYPE_STRING)",
                field_violations=[("message.data[0].value", "Invalid value")],
            )
        ],
    )
    [result] = notifier.send([push("tok-ok")])
    assert result == SendResult("tok-ok", "failed", "INVALID_ARGUMENT")


def test_invalid_argument_with_token_field_violation_is_dead(server, notifier):
    server.program(
        "tok-x",
        [FakeResponse(400, None, message="Invalid request", field_violations=[("message.token", "bad")])],
    )
    [result] = notifier.send([push("tok-x")])
    assert result == SendResult("tok-x", "dead_token", "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("response", "error_code", "retry_after"),
    [
        ((429, "QUOTA_EXCEEDED", {"Retry-After": "7"}), "QUOTA_EXCEEDED", 7.0),
        ((429, "QUOTA_EXCEEDED"), "QUOTA_EXCEEDED", None),
        ((503, "UNAVAILABLE", {"Retry-After": "2"}), "UNAVAILABLE", 2.0),
        ((503, "UNAVAILABLE"), "UNAVAILABLE", None),
        ((500, "INTERNAL"), "INTERNAL", None),
        ((500, "INTERNAL", {"Retry-After": "1.5"}), "INTERNAL", 1.5),
        (FakeResponse(502, raw_body=b"<html>Bad Gateway</html>"), "HTTP_502", None),
    ],
)
def test_transient_errors_are_retry_and_not_retried_internally(
    server, notifier, response, error_code, retry_after
):
    server.program("tok-t", [response])
    started = time.monotonic()
    [result] = notifier.send([push("tok-t")])
    elapsed = time.monotonic() - started

    assert result == SendResult("tok-t", "retry", error_code, retry_after)
    # firebase-admin's default urllib3 Retry would have sent 5 requests and slept 7 s
    # (or Retry-After x 4); our policy is in control: one request, no sleeping.
    assert server.request_count == 1
    assert elapsed < 1.0


def test_http_date_retry_after(server, notifier):
    server.program(
        "tok-d", [(503, "UNAVAILABLE", {"Retry-After": formatdate(time.time() + 120, usegmt=True)})]
    )
    [result] = notifier.send([push("tok-d")])
    assert result.outcome == "retry"
    assert 100 < result.retry_after <= 120


def test_scripted_retry_then_success(server, notifier):
    server.program("tok-r", [(503, "UNAVAILABLE", {"Retry-After": "2"}), (200, None)])
    first = notifier.send([push("tok-r")])
    second = notifier.send([push("tok-r")])
    assert first == [SendResult("tok-r", "retry", "UNAVAILABLE", 2.0)]
    assert second[0].outcome == "sent"
    assert [r.status for r in server.requests] == [503, 200]


def test_closed_port_is_network_retry():
    with FcmNotifier(
        PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=f"http://127.0.0.1:{closed_port()}"
    ) as n:
        started = time.monotonic()
        results = n.send([push("tok-a"), push("tok-b")])
    assert results == [
        SendResult("tok-a", "retry", "NETWORK_ERROR"),
        SendResult("tok-b", "retry", "NETWORK_ERROR"),
    ]
    assert time.monotonic() - started < 2.0


def test_timeout_is_retry():
    with FakeFcmServer(latency=0.5) as slow_server:  # own server: its reply outlives the test
        with FcmNotifier(
            PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=slow_server.url, timeout=0.1
        ) as n:
            [result] = n.send([push("tok-slow")])
        assert slow_server.request_count == 1
    assert result == SendResult("tok-slow", "retry", "DEADLINE_EXCEEDED")


def test_unauthenticated_is_failed_after_google_auth_refresh_resends(server, notifier):
    server.program("tok-401", [(401, None)] * 3)
    [result] = notifier.send([push("tok-401")])
    assert result == SendResult("tok-401", "failed", "UNAUTHENTICATED")
    # google-auth's AuthorizedSession refreshes the credential and re-sends on 401 (twice).
    assert server.request_count == 3


def test_success_without_message_name_is_failed(server, notifier):
    server.program("tok-odd", [FakeResponse(200, raw_body=b"{}")])
    [result] = notifier.send([push("tok-odd")])
    assert result == SendResult("tok-odd", "failed", "MISSING_MESSAGE_ID")


# -- app / configuration ---------------------------------------------------------------------


def test_endpoint_is_per_app_and_class_constant_untouched(server, notifier):
    assert notifier.send_url == f"{server.url}/v1/projects/{PROJECT}/messages:send"
    assert messaging._MessagingService.FCM_URL == "https://fcm.googleapis.com/v1/projects/{0}/messages:send"
    with FcmNotifier("other-project", StaticTokenCredential("t")) as default:
        assert default.send_url == "https://fcm.googleapis.com/v1/projects/other-project/messages:send"
        assert default.app.name != notifier.app.name


def test_http_adapters_do_not_retry(notifier):
    session = messaging._get_messaging_service(notifier.app)._client.session
    for url in ("https://fcm.googleapis.com/v1/x", "https://example.com", notifier.send_url):
        assert session.get_adapter(url).max_retries is NO_RETRY


def test_pool_holds_a_connection_per_send_each_thread(notifier):
    session = messaging._get_messaging_service(notifier.app)._client.session
    assert session.get_adapter(notifier.send_url)._pool_maxsize == MAX_BATCH_SIZE


def test_environment_is_read_once_not_per_request(server, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with (
        FcmNotifier(PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=server.url) as local,
        FcmNotifier(PROJECT, StaticTokenCredential(STATIC_TOKEN)) as remote,
    ):
        local_session = messaging._get_messaging_service(local.app)._client.session
        remote_session = messaging._get_messaging_service(remote.app)._client.session
        assert local_session.trust_env is False and remote_session.trust_env is False
        assert local_session.proxies == {}  # NO_PROXY covers the local endpoint
        assert remote_session.proxies["https"] == "http://proxy.example:3128"
        assert remote_session.verify == str(bundle)
        monkeypatch.setenv("NO_PROXY", "")  # read at construction only
        assert local.send([push("tok-env")])[0].outcome == "sent"


def test_close_deletes_app_and_is_idempotent(server):
    n = FcmNotifier(PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=server.url, app_name="closing-app")
    assert firebase_admin.get_app("closing-app") is n.app
    n.close()
    n.close()
    with pytest.raises(ValueError):
        firebase_admin.get_app("closing-app")
    with pytest.raises(RuntimeError):
        n.send([push("tok")])


def test_rejects_bad_endpoint():
    with pytest.raises(ValueError):
        FcmNotifier(PROJECT, StaticTokenCredential("t"), endpoint="127.0.0.1:80")


def test_is_a_notifier(notifier):
    assert isinstance(notifier, Notifier)


def test_credential_from_env_reads_service_account_file(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "sa-project",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@sa-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    cred = credential_from_env(environ={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert isinstance(cred, credentials.Certificate)
    assert cred.project_id == "sa-project"
    assert isinstance(credential_from_env(environ={}), credentials.ApplicationDefault)
    with pytest.raises((OSError, ValueError)):
        credential_from_env(str(tmp_path / "missing.json"))


# -- Retry-After parsing and backoff ---------------------------------------------------------


def test_parse_retry_after():
    assert parse_retry_after(None) is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 60) == 0.0


def test_retry_delay_grows_exponentially_at_full_jitter_top():
    top = [retry_delay(a, None, rng=lambda: 1.0) for a in range(6)]
    assert top == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert retry_delay(3, None, base=0.5, rng=lambda: 1.0) == 4.0


def test_retry_delay_is_capped():
    assert retry_delay(9, None, rng=lambda: 1.0) == 300.0
    assert retry_delay(50, None, rng=lambda: 1.0) == 300.0
    assert retry_delay(10**6, None, rng=lambda: 1.0) == 300.0  # no overflow
    assert retry_delay(4, None, cap=10.0, rng=lambda: 1.0) == 10.0


def test_retry_delay_jitter_within_bounds():
    rng = random.Random(1234).random
    samples = [retry_delay(3, None, rng=rng) for _ in range(2000)]
    assert all(0.0 <= s <= 8.0 for s in samples)
    assert min(samples) < 1.0 and max(samples) > 7.0  # spread over the whole range
    assert retry_delay(3, None, rng=lambda: 0.0) == 0.0
    assert retry_delay(3, None, rng=lambda: 0.25) == 2.0


def test_retry_delay_honours_retry_after_as_floor():
    assert retry_delay(0, 5.0, rng=lambda: 0.0) == 5.0
    assert retry_delay(0, 5.0, rng=lambda: 1.0) == 5.0
    assert retry_delay(5, 5.0, rng=lambda: 1.0) == 32.0  # backoff above the floor wins
    assert retry_delay(9, 600.0, rng=lambda: 1.0) == 600.0  # floor is not capped
    rng = random.Random(7).random
    assert all(retry_delay(2, 3.0, rng=rng) >= 3.0 for _ in range(500))
    assert retry_delay(2, None, rng=lambda: 0.5) == retry_delay(2, -1.0, rng=lambda: 0.5) == 2.0


def test_retry_delay_rejects_negative_attempt():
    with pytest.raises(ValueError):
        retry_delay(-1, None)
