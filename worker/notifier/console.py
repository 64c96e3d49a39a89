"""A notifier for local development that prints messages instead of sending them."""

import json
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from worker.notifier.base import SENT, PushMessage, SendResult

TOKEN_SUFFIX_LENGTH = 6


class ConsoleNotifier:
    """Writes one JSON line per message to ``stream`` (default: ``sys.stdout`` at construction).

    Only the message's own fields are printed, and the token is shortened to its
    last 6 characters.  Every message is reported as ``"sent"``.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        lines = [self._format(message) for message in messages]
        if lines:
            with self._lock:
                self._stream.write("".join(line + "\n" for line in lines))
                self._stream.flush()
        return [SendResult(token=message.token, outcome=SENT) for message in messages]

    @staticmethod
    def _format(message: PushMessage) -> str:
        record = {
            "token": message.token[-TOKEN_SUFFIX_LENGTH:],
            "title": message.title,
            "body": message.body,
            "data": dict(message.data),
            "collapse_key": message.collapse_key,
            "ttl_seconds": message.ttl_seconds,
        }
        # json.dumps escapes newlines, so one message is always exactly one line.
        return json.dumps(record, ensure_ascii=False, sort_keys=True)
