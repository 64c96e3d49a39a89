"""Console fixtures: CSRF-aware sign-in for the test client, a real HTTP server for the browser,
and Playwright driving Debian's Chromium (/usr/bin/chromium; `playwright install` is not used)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from api.models import User
from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def csrf_token(client: FlaskClient, path: str = "/console/login") -> str:
    return csrf_from(client.get(path, follow_redirects=True).get_data(as_text=True))


def sign_in(client: FlaskClient, user: User, password: str = PASSWORD, **extra: str):
    token = csrf_token(client)
    return client.post(
        "/console/login", data={"email": user.email, "password": password, "csrf_token": token, **extra}
    )


def post_form(client: FlaskClient, path: str, data: dict | None = None, page: str | None = None):
    """POST a console form with the CSRF token of `page` (default: the alert queue or admin home)."""
    token = csrf_token(client, page or "/console/")
    return client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app on a real port. Each request runs in a server thread with its own app context,
    hence its own database session (the fixture's context stays in the test's thread)."""
    app.config["CONSOLE_POLL_SECONDS"] = 1
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module scope, not session: while Playwright's sync API is open, its asyncio loop counts as
    # running on this thread, and `asyncio.run()` in later test modules would fail.
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, live_server: str) -> Iterator[object]:
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A Content-Security-Policy violation (an inline script or style slipped in) is a failure too.
    page.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def browser_sign_in(page: object, user: User, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
