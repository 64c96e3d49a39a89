"""`make screenshots`: seed demo data into a throw-away SQLite database, serve the app, and save PNGs of
the console (alert queue, patient page, schedule editor) into docs/screenshots/.

Needs Debian's Chromium (`apt-get install -y chromium`) and Playwright (the dev extras). All data is
invented; the random generator is seeded so the pictures are stable apart from today's date.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from api import create_app  # noqa: E402
from api.extensions import db  # noqa: E402
from api.models import Alert, PatientProfile, Prompt, User  # noqa: E402
from api.models.types import utcnow  # noqa: E402
from api.services.accounts import (  # noqa: E402
    accept_invite,
    create_care_team,
    create_staff_user,
    enrol_patient,
    update_care_team,
)
from api.services.alerts import acknowledge, resolve, screen_checkin  # noqa: E402
from api.services.checkins import create_checkin  # noqa: E402
from api.services.dosing import record_session  # noqa: E402
from api.services.planning import replan_patient  # noqa: E402
from api.services.reflections import create_reflection  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-password-123"
OUT = ROOT / "docs" / "screenshots"
rng = random.Random(20251125)

REFLECTIONS = [
    "I slept better last night. The body scan from the session came back when I woke up and it helped.",
    "Hard day. The memory of the crash came up at the supermarket, but I could stay with it instead of leaving.",
    "Talked to my sister for the first time in months. I felt calm while we spoke.",
    "Noticing that I feel safer in my own flat. Still tired in the afternoons.",
]


def spread(total: int, items: int, top: int) -> dict[str, int]:
    """Answers q1..qN (each 0..top) adding up to `total`."""
    answers = [0] * items
    for _ in range(min(total, items * top)):
        i = rng.choice([k for k in range(items) if answers[k] < top])
        answers[i] += 1
    return {f"q{n + 1}": v for n, v in enumerate(answers)}


def add_checkin(profile: PatientProfile, instrument: str, answers: dict, at: datetime) -> object:
    checkin, _ = create_checkin(
        profile,
        {
            "client_uuid": uuid.uuid4(),
            "instrument_id": instrument,
            "instrument_version": "1.0",
            "answers": answers,
            "recorded_at": at,
        },
    )
    return checkin


def seed_patient(
    clinician: User, email: str, name: str, zone: str, team_id: int, improve: float
) -> PatientProfile:
    tz = ZoneInfo(zone)
    user, code, _ = enrol_patient(clinician, email, name, zone, team_id)
    accept_invite(code, PASSWORD)
    profile = db.session.get(PatientProfile, user.id)
    profile.enrolled_at = profile.activated_at = utcnow() - timedelta(days=70)
    db.session.commit()
    today = utcnow().astimezone(tz).date()
    doses = [datetime.combine(today - timedelta(days=days), time(9, 0), tzinfo=tz) for days in (54, 26)]
    for number, dose in enumerate(doses, start=1):
        record_session(clinician, profile, number, dose)
    # Plan the past as it was planned then, and mark what the patient answered or missed.
    replan_patient(user.id, "demo", now=doses[0] - timedelta(hours=1))
    for prompt in db.session.scalars(select(Prompt).where(Prompt.patient_id == user.id)):
        if prompt.expires_at < utcnow():
            prompt.sent_at = prompt.intended_at
            if rng.random() < 0.86:
                prompt.state, prompt.answered_at = "completed", prompt.intended_at + timedelta(minutes=50)
            else:
                prompt.state, prompt.expired_at = "expired", prompt.expires_at
    db.session.commit()

    def days_since_dose(day: datetime) -> int:
        past = [d for d in doses if d <= day]
        return (day.date() - past[-1].date()).days if past else 99

    for back in range(62, 0, -1):
        day = datetime.combine(today - timedelta(days=back), time(9, 20), tzinfo=tz)
        if rng.random() < 0.12:
            continue
        after = days_since_dose(day)
        dip = 2.5 if after in (1, 2, 3, 4) else 0
        trend = improve * (62 - back) / 62
        mood = round(min(10, max(0, 4 + trend - dip + rng.uniform(-1, 1))))
        anxiety = round(min(10, max(0, 7 - trend + dip * 0.6 + rng.uniform(-1, 1))))
        slept = round(max(2, min(10, 6 + trend / 3 - dip * 0.6 + rng.uniform(-0.8, 0.8))) * 2) / 2
        add_checkin(
            profile,
            "daily",
            {"mood": mood, "anxiety": anxiety, "hours_slept": slept, "sleep_quality": 2, "energy": mood},
            day,
        )
    scored = {"phq9": (9, 3, 17), "gad7": (7, 3, 15), "pcl5": (20, 4, 54)}
    for instrument, (items, top, start) in scored.items():
        marks = [-6] + [d for d in (3, 7, 14, 21, 28) if instrument != "pcl5" or d in (14, 28)]
        for dose in doses:
            for offset in marks if dose is doses[0] else marks[1:]:
                at = datetime.combine(dose.date() + timedelta(days=offset), time(10, 15), tzinfo=tz)
                if at >= utcnow():
                    continue
                progress = (at - doses[0]).days / 60 if at > doses[0] else 0
                total = max(2, round(start * (1 - improve * 0.11 * progress * 4) + rng.uniform(-2, 2)))
                answers = spread(total, items, top)
                if instrument == "phq9":
                    answers["q9"] = 0
                    answers["q1"] = min(top, answers["q1"] + 1)
                add_checkin(profile, instrument, answers, at)
    for i, text in enumerate(REFLECTIONS):
        create_reflection(
            profile,
            {
                "client_uuid": uuid.uuid4(),
                "text": text,
                "tags": [["sleep"], ["memory"], ["relationships"], ["safety"]][i],
                "recorded_at": utcnow() - timedelta(days=20 - i * 6, hours=3),
            },
        )
    db.session.commit()
    return profile


def seed(app: Flask) -> None:
    with app.app_context():
        upgrade()
        create_staff_user("admin@demo.test", "Avery Admin", "admin", PASSWORD)
        team = create_care_team("Integration team North", "+1 555 0100")
        other = create_care_team("Integration team South", "+1 555 0200")
        lead = create_staff_user("clinician@demo.test", "Dr Maya Okafor", "clinician", PASSWORD)
        colleague = create_staff_user("nurse@demo.test", "Sam Patel, RN", "clinician", PASSWORD)
        south = create_staff_user("south@demo.test", "Dr Lena Berg", "clinician", PASSWORD)
        update_care_team(
            team,
            {
                "clinician_ids": [lead.id, colleague.id],
                "on_duty_ids": [lead.id],
                "backup_clinician_id": colleague.id,
            },
        )
        update_care_team(other, {"clinician_ids": [south.id], "on_duty_ids": [south.id]})
        jordan = seed_patient(lead, "jordan@demo.test", "Jordan Lee", "America/New_York", team.id, 1.0)
        riley = seed_patient(lead, "riley@demo.test", "Riley Chen", "Europe/Berlin", team.id, 0.4)
        quinn = seed_patient(lead, "quinn@demo.test", "Quinn Alvarez", "America/Chicago", team.id, 0.8)

        # Today's entries that raise alerts, screened by the real flag rules.
        now = utcnow()
        urgent = add_checkin(riley, "phq9", {**spread(14, 9, 3), "q9": 2}, now - timedelta(minutes=6))
        screen_checkin(riley, urgent)
        for back in (1, 0):
            low = add_checkin(
                quinn,
                "daily",
                {"mood": 1, "anxiety": 8, "hours_slept": 3.5, "sleep_quality": 0, "energy": 2},
                now - timedelta(days=back, minutes=40),
            )
            screen_checkin(quinn, low)
        gad = add_checkin(jordan, "gad7", spread(16, 7, 3), now - timedelta(hours=5))
        screen_checkin(jordan, gad)
        db.session.commit()
        for alert in db.session.scalars(select(Alert)):
            shift = timedelta(minutes=6) if alert.severity == "urgent" else timedelta(hours=3)
            alert.created_at -= shift
            alert.ack_deadline_at -= shift
        db.session.commit()
        gad_alert = db.session.scalars(select(Alert).where(Alert.patient_id == jordan.user_id)).first()
        if gad_alert is not None:
            acknowledge(gad_alert, colleague)
        old = add_checkin(
            jordan,
            "daily",
            {"mood": 1, "anxiety": 9, "hours_slept": 3, "sleep_quality": 0, "energy": 1},
            now - timedelta(days=30),
        )
        screen_checkin(jordan, old)
        db.session.commit()
        for alert in db.session.scalars(
            select(Alert).where(Alert.patient_id == jordan.user_id, Alert.state == "open")
        ):
            resolve(
                alert,
                lead,
                "Phoned Jordan: a hard night after the session, expected; safety plan reviewed.",
                "contacted",
            )
        db.session.remove()


def serve(app: Flask) -> tuple[object, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def capture(base: str, riley_id: int, out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(
            base_url=base,
            viewport={"width": 1440, "height": 900},
            locale="en-GB",
            timezone_id="Europe/London",
        )
        page = context.new_page()

        def sign_in(email: str) -> None:
            page.goto("/console/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()

        sign_in("clinician@demo.test")
        expect(page.locator("#alert-rows tr[data-alert-id]").first).to_be_visible()
        page.screenshot(path=out / "alert-queue.png", full_page=True)
        saved.append(out / "alert-queue.png")

        page.goto(f"/console/patients/{riley_id}")
        expect(page.locator('svg[data-chart="phq9"] circle.point').first).to_be_visible()
        page.screenshot(path=out / "patient.png", full_page=True)
        saved.append(out / "patient.png")

        page.get_by_role("button", name="Sign out").click()
        sign_in("admin@demo.test")
        page.get_by_role("link", name="Schedules").click()
        page.get_by_role("link", name="Default").first.click()
        expect(page.locator('svg[data-chart="per-day"] rect.bar').first).to_be_visible()
        page.screenshot(path=out / "schedule-editor.png", full_page=False)
        saved.append(out / "schedule-editor.png")
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.sqlite3",
                "REFLECTION_KEYS": "",
                "REFLECTION_KEYS_FILE": f"{tmp}/reflection.keys",
            }
        )
        seed(app)
        with app.app_context():
            riley = db.session.scalar(select(User.id).where(User.email == "riley@demo.test"))
            db.session.remove()
        server, base = serve(app)
        try:
            for path in capture(base, riley, args.out):
                print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            server.shutdown()
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
