"""The console in a real browser (Playwright + Debian's Chromium) against the app on a real port."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.console import session as console_session
from api.extensions import db
from api.models import Alert, AuditLog, ScheduleTemplate
from api.models.types import utcnow
from tests.api.entries_helpers import PHQ9_ANSWERS, checkin, post
from tests.api.schedule_helpers import add_session
from tests.console.conftest import browser_sign_in

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def _fresh() -> None:
    """See what the server threads committed."""
    db.session.rollback()
    db.session.expire_all()


def test_a_new_urgent_alert_appears_without_reload_then_is_acknowledged_and_resolved(page, client, world):
    browser_sign_in(page, world.clinician_a)
    expect(page).to_have_url(re.compile(r"/console/alerts$"))
    expect(page.locator("#alert-rows tr.empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    answers = {**PHQ9_ANSWERS, "q9": 2}
    r = post(client, world.headers(world.patient_a), "/api/v1/me/checkins", checkin("phq9", answers))
    assert r.status_code == 201

    row = page.locator('#alert-rows tr[data-severity="urgent"]')
    expect(row).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True  # the queue updated itself, no reload
    expect(row.locator("time.countdown")).to_have_text(re.compile(r"^1[45] min left$"))
    expect(row).to_have_attribute("data-state", "open")
    expect(page.locator("#queue-count")).to_contain_text("1 new")

    row.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(page.locator(".flash-success")).to_contain_text("acknowledged")
    expect(row).to_have_attribute("data-state", "acknowledged")
    expect(row).to_contain_text("Acknowledged")

    row.get_by_role("link", name=re.compile("Resolve")).click()
    dialog = page.locator("#resolve-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Outcome")).to_be_focused()
    dialog.get_by_role("button", name="Resolve alert").click()
    expect(dialog).to_be_visible()  # note and outcome are required: nothing was sent
    dialog.get_by_label("Outcome").select_option("contacted")
    dialog.get_by_label("Note").fill("Called the patient; safe tonight, safety plan reviewed.")
    dialog.get_by_role("button", name="Resolve alert").click()
    expect(page.locator(".flash-success")).to_contain_text("resolved")
    expect(page.locator("#alert-rows tr[data-alert-id]")).to_have_count(0)

    _fresh()
    alert = db.session.scalars(select(Alert).where(Alert.severity == "urgent")).one()
    assert (alert.state, alert.outcome, alert.resolved_by_id) == (
        "resolved",
        "contacted",
        world.clinician_a.id,
    )
    assert alert.acknowledged_by_id == world.clinician_a.id


def test_patient_page_draws_the_charts_with_dosing_sessions_and_bands(page, client, world):
    pid = world.patient_a.id
    headers = world.headers(world.patient_a)
    now = utcnow()
    for day in range(1, 11):
        answers = {
            "mood": 3 + day % 5,
            "anxiety": 7 - day % 4,
            "hours_slept": 5 + day % 4,
            "sleep_quality": 2,
            "energy": 5,
        }
        post(
            client,
            headers,
            "/api/v1/me/checkins",
            checkin("daily", answers, recorded_at=now - timedelta(days=day, hours=1)),
        )
    for day, value in ((12, 2), (6, 1), (2, 0)):
        post(
            client,
            headers,
            "/api/v1/me/checkins",
            checkin("phq9", {f"q{i}": value for i in range(1, 10)}, recorded_at=now - timedelta(days=day)),
        )
    for day, value in ((11, 2), (3, 1)):
        post(
            client,
            headers,
            "/api/v1/me/checkins",
            checkin("gad7", {f"q{i}": value for i in range(1, 8)}, recorded_at=now - timedelta(days=day)),
        )
        post(
            client,
            headers,
            "/api/v1/me/checkins",
            checkin("pcl5", {f"q{i}": value for i in range(1, 21)}, recorded_at=now - timedelta(days=day)),
        )
    add_session(pid, now - timedelta(days=7))
    db.session.commit()

    browser_sign_in(page, world.clinician_a)
    page.goto(f"/console/patients/{pid}")
    assert page.title() == f"Patient #{pid} · Integration Companion"  # no name or health data in the title
    expect(page.locator("#charts-status")).to_have_text("Showing the last 90 days.")
    for chart, points in (("daily", 20), ("sleep", 10), ("phq9", 3), ("gad7", 2), ("pcl5", 2)):
        svg = page.locator(f'svg[data-chart="{chart}"]')
        expect(svg.locator("circle.point")).to_have_count(points)
        expect(svg.locator("line.dose")).to_have_count(1)
        expect(svg.locator("path")).not_to_have_count(0)
    expect(page.locator('svg[data-chart="phq9"] rect.band')).to_have_count(5)
    expect(page.locator('svg[data-chart="gad7"] rect.band')).to_have_count(4)
    expect(page.locator('svg[data-chart="pcl5"] rect.band')).to_have_count(2)
    expect(page.locator('svg[data-chart="pcl5"] .band-label').last).to_have_text("Probable PTSD")
    expect(page.locator('svg[data-chart="daily"]')).to_have_attribute(
        "aria-label", re.compile("Mood: 10 entries")
    )
    # Points lie inside the plot and the PHQ-9 values rise towards the past: 18 (12 days ago) is the highest.
    ys = page.locator('svg[data-chart="phq9"] circle.point').evaluate_all(
        "els => els.map(e => +e.getAttribute('cy'))"
    )
    assert ys == sorted(ys)  # oldest (highest score) first, so smallest y first
    page.get_by_label("Show").select_option("30")
    expect(page.locator("#charts-status")).to_have_text("Showing the last 30 days.")

    _fresh()
    audited = {
        r.resource_type
        for r in db.session.scalars(
            select(AuditLog).where(AuditLog.patient_id == pid, AuditLog.actor_id == world.clinician_a.id)
        )
    }
    assert {"patient", "trends", "alert", "reflection", "dosing_session", "adherence"} <= audited


def test_admin_edits_a_schedule_and_sees_the_preview_before_saving(page, world):
    template = db.session.scalars(select(ScheduleTemplate).where(ScheduleTemplate.is_default.is_(True))).one()
    version = template.version
    browser_sign_in(page, world.admin)
    expect(page).to_have_url(re.compile(r"/console/admin/teams$"))
    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name=template.name).click()

    bars = page.locator('svg[data-chart="per-day"] rect.bar')
    expect(bars.first).to_be_visible()
    timeline = page.locator("#preview-timeline tbody tr")
    before = timeline.count()
    assert before > 10 and bars.count() > 5

    rules = json.loads(page.get_by_label("Rules (JSON)").input_value())
    typo = {
        "key": "typo",
        "kind": "instrument",
        "instrument_id": "phq-9",
        "day_offsets": [4],
        "local_time": "11:00",
    }
    page.get_by_label("Rules (JSON)").fill(json.dumps([*rules, typo], indent=2))
    expect(page.locator("#preview-errors")).to_contain_text(
        f"Rule {len(rules) + 1} (typo), instrument_id: Unknown instrument 'phq-9'"
    )
    expect(bars).to_have_count(0)
    expect(page.get_by_label("Rules (JSON)")).to_have_attribute("aria-invalid", "true")

    extra = {
        "key": "who5-day5",
        "kind": "instrument",
        "instrument_id": "who5",
        "day_offsets": [5],
        "local_time": "11:00",
    }
    page.get_by_label("Rules (JSON)").fill(json.dumps([*rules, extra], indent=2))
    expect(timeline).to_have_count(before + 1)
    expect(page.locator("#preview-timeline")).to_contain_text("who5-day5")
    expect(bars.first).to_be_visible()
    _fresh()
    assert db.session.get(ScheduleTemplate, template.id).version == version  # nothing saved yet

    page.get_by_role("button", name=re.compile("Save as version")).click()
    expect(page.locator(".flash-success")).to_contain_text(f"version {version + 1}")
    _fresh()
    saved = db.session.get(ScheduleTemplate, template.id)
    assert saved.version == version + 1 and saved.rules[-1]["key"] == "who5-day5"


def test_clinician_of_another_team_gets_404_for_the_patient_page(page, world):
    browser_sign_in(page, world.clinician_b)
    response = page.goto(f"/console/patients/{world.patient_a.id}")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
    expect(page.locator("main")).not_to_contain_text(world.patient_a.email)
    assert page.goto(f"/console/patients/{world.patient_b.id}").status == 200


def test_form_posted_without_the_csrf_token_is_rejected(page, world):
    browser_sign_in(page, world.clinician_a)
    page.goto(f"/console/patients/{world.patient_a.id}")
    page.locator('form[action$="/dosing-sessions"] input[name="csrf_token"]').evaluate("el => el.remove()")
    page.get_by_label("Start (patient's local time)").fill("2030-01-07T09:00")
    with page.expect_response(re.compile(r"/dosing-sessions$")) as info:
        page.get_by_role("button", name="Record session").click()
    assert info.value.status == 400
    expect(page.locator("main")).to_contain_text("This form has expired or was not sent from the console")


def test_idle_queue_signs_itself_out_after_15_minutes(page, world, monkeypatch):
    browser_sign_in(page, world.clinician_a)
    expect(page).to_have_url(re.compile(r"/console/alerts$"))
    start = time.time()
    monkeypatch.setattr(console_session, "now", lambda: start + 16 * 60)  # the server's clock jumps
    # The next background poll is refused and the page goes to the sign-in page by itself.
    expect(page).to_have_url(re.compile(r"/console/login\?reason=idle"))
    expect(page.locator(".flash-info")).to_contain_text("signed out after 15 minutes without activity")
    monkeypatch.undo()
    page.goto("/console/alerts")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_patients_cannot_sign_in(page, world):
    browser_sign_in(page, world.patient_a)
    expect(page.get_by_role("alert")).to_contain_text("Patients sign in with the Integration Companion app")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_console_is_usable_with_the_keyboard(page, world):
    page.goto("/console/login")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(world.clinician_a.email)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/alerts$"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Alert queue")).to_be_focused()
    expect(page.get_by_role("link", name="Alert queue")).to_have_attribute("aria-current", "page")
