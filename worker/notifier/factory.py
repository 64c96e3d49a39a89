"""Choose the notifier from the environment: `console` for local runs, `fcm` in production."""

from __future__ import annotations

import os

from worker.notifier.base import Notifier
from worker.notifier.console import ConsoleNotifier


def notifier_from_env() -> Notifier:
    kind = os.environ.get("NOTIFIER", "console")
    if kind == "console":
        return ConsoleNotifier()
    if kind == "fcm":
        from worker.notifier.fcm import FcmNotifier, StaticTokenCredential, credential_from_env

        # FCM_ENDPOINT + FCM_STATIC_TOKEN point the real firebase-admin path at a local fake server.
        static = os.environ.get("FCM_STATIC_TOKEN")
        credential = StaticTokenCredential(static) if static else credential_from_env()
        return FcmNotifier(os.environ["FCM_PROJECT_ID"], credential, endpoint=os.environ.get("FCM_ENDPOINT"))
    raise ValueError(f"NOTIFIER must be 'console' or 'fcm', not {kind!r}")
