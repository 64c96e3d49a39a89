"""`flask export-research`: de-identified CSV files whose row counts match the database."""

import csv
import hashlib
import hmac
import re
from datetime import timedelta

import pytest

from api.extensions import db
from api.models import Alert, AuditLog, CheckIn, DosingSession, PatientProfile, Prompt, Reflection
from tests.api.data_rights_helpers import NOTE, REFLECTION_TEXT, build_record, count
from tests.api.entries_helpers import DAILY_ANSWERS, checkin, post

KEY = "research-key-0123456789abcdef"
FILES = {
    "patients.csv",
    "checkins.csv",
    "prompts.csv",
    "alerts.csv",
    "dosing_sessions.csv",
    "data_dictionary.csv",
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}")


def run(app, out, *args, key=KEY):
    result = app.test_cli_runner().invoke(
        args=["export-research", "--out", str(out), *(["--key", key] if key else []), *args]
    )
    return result


def read(out, name):
    with (out / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pid_of(user, key=KEY):
    return hmac.new(key.encode(), str(user.id).encode(), hashlib.sha256).hexdigest()[:16]


@pytest.fixture
def out(tmp_path):
    """The export directory (tmp_path itself also holds the test database)."""
    return tmp_path / "export"


@pytest.fixture
def data(client, world):
    record = build_record(client, world)
    r = post(client, world.headers(world.patient_b), "/api/v1/me/checkins", checkin("daily", DAILY_ANSWERS))
    assert r.status_code == 201
    return record


def test_files_and_row_counts_match_the_database(app, data, out):
    result = run(app, out)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == FILES
    expected = {
        "patients.csv": count(PatientProfile),
        "checkins.csv": count(CheckIn),
        "prompts.csv": count(Prompt),
        "alerts.csv": count(Alert),
        "dosing_sessions.csv": count(DosingSession),
    }
    assert expected == {
        "patients.csv": 2,
        "checkins.csv": 8,
        "prompts.csv": 4,
        "alerts.csv": 2,
        "dosing_sessions.csv": 2,
    }
    for name, rows in expected.items():
        assert len(read(out, name)) == rows, name
        assert f"{name}: {rows} rows" in result.output


def test_the_data_dictionary_describes_every_column(app, data, out):
    assert run(app, out, "--include-reflections").exit_code == 0
    described = {(r["file"], r["column"]) for r in read(out, "data_dictionary.csv")}
    written = set()
    for path in out.iterdir():
        with path.open(newline="", encoding="utf-8") as handle:
            written |= {(path.name, column) for column in next(csv.reader(handle))}
    assert written == described
    assert all(r["description"] and r["type"] for r in read(out, "data_dictionary.csv"))


def test_no_names_emails_exact_dates_or_free_text(app, world, data, out):
    assert run(app, out).exit_code == 0
    text = "\n".join((out / name).read_text(encoding="utf-8") for name in FILES)
    assert not ISO_DATE.search(text)
    forbidden = [
        "@",
        "example.org",
        world.patient_a.display_name,
        world.patient_b.display_name,
        world.team_a.name,
        world.team_b.name,
        "Europe/Berlin",
        "America/New_York",
        NOTE,
        "Alice",
        REFLECTION_TEXT,
        "lake walk",
        "How have the last two weeks been",  # prompt text
        "check-ins missed",  # alert summary
        "Called the patient",  # resolution note
        "fcm-token",
    ]
    for value in forbidden:
        assert value not in text, value
    # Raw database ids are not used as patient ids.
    pids = {r["pid"] for r in read(out, "patients.csv")}
    assert pids == {pid_of(world.patient_a), pid_of(world.patient_b)}
    assert not {str(world.patient_a.id), str(world.patient_b.id)} & pids


def test_pseudonyms_are_stable_per_key(app, world, data, out):
    assert run(app, out / "a").exit_code == 0
    assert run(app, out / "b").exit_code == 0
    assert run(app, out / "c", key="another-key-0123456789").exit_code == 0
    for name in ("checkins.csv", "prompts.csv", "alerts.csv"):
        assert read(out / "a", name) == read(out / "b", name)
    a = {r["pid"] for r in read(out / "a", "patients.csv")}
    c = {r["pid"] for r in read(out / "c", "patients.csv")}
    assert a and not a & c


def test_key_from_the_environment_and_key_checks(app, data, out):
    assert run(app, out, key=None).exit_code != 0
    assert not (out / "checkins.csv").exists()
    short = run(app, out, key="short")
    assert short.exit_code != 0 and "at least 16" in short.output
    app.config["RESEARCH_EXPORT_KEY"] = KEY
    assert run(app, out / "env", key=None).exit_code == 0
    assert run(app, out / "arg").exit_code == 0
    assert read(out / "env", "patients.csv") == read(out / "arg", "patients.csv")


def test_times_are_days_from_the_first_dosing_session(app, world, data, out):
    assert run(app, out).exit_code == 0
    a, b = pid_of(world.patient_a), pid_of(world.patient_b)
    patients = {r["pid"]: r for r in read(out, "patients.csv")}
    assert (patients[a]["anchor"], patients[b]["anchor"]) == ("first_dosing_session", "enrolment")
    sessions = {r["session_number"]: r for r in read(out, "dosing_sessions.csv")}
    assert float(sessions["1"]["start_day"]) == 0.0 and sessions["1"]["cancelled"] == "0"
    assert (
        float(sessions["2"]["start_day"]) == pytest.approx(7.0, abs=0.002)
        and sessions["2"]["cancelled"] == "1"
    )

    anchor = data.sessions[0].started_at
    rows = {r["checkin_id"]: r for r in read(out, "checkins.csv") if r["pid"] == a}
    for checkin_row in db.session.query(CheckIn).filter_by(patient_id=world.patient_a.id):
        key = hmac.new(KEY.encode(), f"checkin:{checkin_row.id}".encode(), hashlib.sha256).hexdigest()[:16]
        expected = (checkin_row.recorded_at - anchor) / timedelta(days=1)
        assert float(rows[key]["day"]) == pytest.approx(expected, abs=0.001)
        assert rows[key]["local_time_bucket"] in {"night", "morning", "afternoon", "evening"}

    prompts = read(out, "prompts.csv")
    completed = next(p for p in prompts if p["state"] == "completed")
    assert float(completed["answered_day"]) > float(completed["opened_day"]) > float(completed["sent_day"])
    scheduled = next(p for p in prompts if p["state"] == "scheduled")
    assert scheduled["sent_day"] == "" and float(scheduled["intended_day"]) > 9


def test_answers_totals_and_alert_timings(app, world, data, out):
    assert run(app, out).exit_code == 0
    rows = {r["instrument"]: r for r in read(out, "checkins.csv") if r["pid"] == pid_of(world.patient_a)}
    phq9 = rows["phq9"]
    assert (phq9["phq9__q9"], phq9["phq9__q1"], phq9["total"], phq9["band"]) == ("2", "1", "10", "moderate")
    assert phq9["daily__mood"] == "" and phq9["has_note"] == "0"
    daily = rows["daily"]
    assert (daily["daily__hours_slept"], daily["daily__mood"], daily["has_note"], daily["total"]) == (
        "7.5",
        "5",
        "1",
        "",
    )
    assert "daily__note" not in daily
    assert rows["pcl5"]["positive"] == "0" and rows["who5"]["total"] == "80"

    alerts = {r["rule"]: r for r in read(out, "alerts.csv")}
    resolved = alerts["missed_checkins"]
    assert (resolved["severity"], resolved["state"], resolved["outcome"]) == ("low", "resolved", "contacted")
    assert (float(resolved["hours_to_acknowledge"]), float(resolved["hours_to_resolve"])) == (3.0, 24.0)
    urgent = alerts["phq9_item9"]
    assert (urgent["severity"], urgent["state"], urgent["hours_to_acknowledge"]) == ("urgent", "open", "")


def test_reflections_only_when_asked(app, world, data, out):
    result = run(app, out, "--include-reflections")
    assert result.exit_code == 0, result.output
    assert "free text" in result.output
    rows = read(out, "reflections.csv")
    notes = count(CheckIn, CheckIn.note_ciphertext.is_not(None))
    assert len(rows) == count(Reflection) + notes == 2
    by_source = {r["source"]: r for r in rows}
    assert (
        by_source["reflection"]["text"] == REFLECTION_TEXT and by_source["reflection"]["tags"] == "lake walk"
    )
    note = by_source["checkin_note"]
    assert note["text"] == NOTE
    daily = next(r for r in read(out, "checkins.csv") if r["instrument"] == "daily" and r["has_note"] == "1")
    assert note["checkin_id"] == daily["checkin_id"]
    # Still no identifiers or dates.
    text = (out / "reflections.csv").read_text(encoding="utf-8")
    assert "@" not in text and not ISO_DATE.search(text)


def test_team_and_since_filters(app, world, data, out):
    assert run(app, out / "b", "--team", str(world.team_b.id)).exit_code == 0
    assert {r["pid"] for r in read(out / "b", "patients.csv")} == {pid_of(world.patient_b)}
    assert len(read(out / "b", "checkins.csv")) == count(CheckIn, CheckIn.patient_id == world.patient_b.id)
    assert read(out / "b", "prompts.csv") == []

    since = (data.sessions[1].started_at - timedelta(days=1)).date().isoformat()
    assert run(app, out / "s", "--since", since).exit_code == 0
    assert len(read(out / "s", "dosing_sessions.csv")) == 1
    assert len(read(out / "s", "checkins.csv")) == count(CheckIn)
    assert len(read(out / "s", "alerts.csv")) == 1  # the resolved alert is 5 days old

    assert run(app, out / "x", "--team", "999").exit_code != 0


def test_every_exported_patient_is_audited(app, world, data, out):
    assert run(app, out).exit_code == 0
    rows = db.session.query(AuditLog).filter_by(action="research_export").all()
    assert sorted(r.patient_id for r in rows) == sorted([world.patient_a.id, world.patient_b.id])
    assert {(r.actor_role, r.detail) for r in rows} == {("system", "de_identified")}
