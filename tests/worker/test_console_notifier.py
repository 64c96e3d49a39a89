import io
import json

import pytest

from worker.notifier.base import Notifier, PushMessage, SendResult
from worker.notifier.console import ConsoleNotifier


def push(token: str, **overrides) -> PushMessage:
    fields = {
        "token": token,
        "title": "Check-in",
        "body": "A quiet moment?",
        "data": {"prompt_id": "7", "kind": "checkin"},
        "collapse_key": "checkin",
        "ttl_seconds": 600,
    }
    fields.update(overrides)
    return PushMessage(**fields)


def test_prints_one_json_line_per_message_with_shortened_token():
    stream = io.StringIO()
    notifier = ConsoleNotifier(stream)
    messages = [push("aaaaaaaaaaaaaaaa-123456"), push("bbbbbbbbbbbbbbbbbbbb-654321", body="Two\nlines")]

    results = notifier.send(messages)

    assert results == [
        SendResult("aaaaaaaaaaaaaaaa-123456", "sent"),
        SendResult("bbbbbbbbbbbbbbbbbbbb-654321", "sent"),
    ]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first == {
        "token": "123456",
        "title": "Check-in",
        "body": "A quiet moment?",
        "data": {"prompt_id": "7", "kind": "checkin"},
        "collapse_key": "checkin",
        "ttl_seconds": 600,
    }
    assert second["token"] == "654321"
    assert second["body"] == "Two\nlines"
    assert "aaaaaaaaaaaaaaaa" not in stream.getvalue()


def test_short_token_and_non_ascii():
    stream = io.StringIO()
    ConsoleNotifier(stream).send([push("abc", title="Zeit für dich")])
    record = json.loads(stream.getvalue())
    assert record["token"] == "abc"
    assert record["title"] == "Zeit für dich"


def test_empty_input_prints_nothing():
    stream = io.StringIO()
    assert ConsoleNotifier(stream).send([]) == []
    assert stream.getvalue() == ""


def test_defaults_to_stdout(capsys: pytest.CaptureFixture[str]):
    ConsoleNotifier().send([push("token-000001")])
    assert json.loads(capsys.readouterr().out)["token"] == "000001"


def test_is_a_notifier():
    assert isinstance(ConsoleNotifier(io.StringIO()), Notifier)


def test_push_message_validation():
    with pytest.raises(ValueError):
        push("t", ttl_seconds=-1)
    with pytest.raises(ValueError):
        push("t", ttl_seconds=29 * 24 * 3600)
    with pytest.raises(ValueError):
        push("t", collapse_key="x" * 65)
    with pytest.raises(TypeError):
        push("t", data={"n": 1})
    with pytest.raises(ValueError):
        SendResult("t", "delivered")  # type: ignore[arg-type]
