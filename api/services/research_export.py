"""De-identified research export: CSV files for analysis outside the clinic.

Design (docs/data-rights.md has the researcher-facing version; ``data_dictionary.csv`` describes
every column of every file written):

* **Pseudonyms.** A patient is ``pid`` = the first 16 hex digits of HMAC-SHA256(export key, patient
  id). Record ids (check-ins, prompts, alerts, dosing sessions, reflections) are pseudonymised the
  same way from "<kind>:<id>". The same key gives the same pseudonyms in every export (longitudinal
  linkage); another key gives unlinkable ones. Without the key they cannot be reversed or linked to
  the live database.
* **Time.** No date or timestamp is written. Every time point is a fractional number of days
  (3 decimals, ~1.4 minutes) since the patient's *anchor*: the start of their first (non-cancelled)
  dosing session, or their enrolment if no session was recorded (``patients.csv`` says which).
  Check-ins and reflections also get the patient-local time-of-day bucket (night 0-6, morning 6-12,
  afternoon 12-18, evening 18-24). Durations (alerts) are in hours.
* **Check-ins are wide.** One row per check-in; every non-text item of every instrument in the
  catalogue is a column ``<instrument>__<item>`` (empty when that check-in did not answer it), so a
  file has the same header whatever the data.
* **No direct identifiers, no free text.** No names, emails, time zones, care-team names, device
  tokens, prompt texts, alert summaries/evidence/notes, check-in notes or reflection text. Only with
  ``include_reflections``: ``reflections.csv`` with reflection text, tags and check-in notes.
* ``team_id`` limits the export to one care team's patients; ``since`` to rows at or after it
  (check-ins and reflections by recorded time, prompts by intended time, alerts by creation,
  dosing sessions by start); anchors always use every session.
* Every exported patient gets an audit row (action ``research_export``).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tqdm import tqdm

from api.domain.instruments import CATALOGUE
from api.extensions import db
from api.models import Alert, CheckIn, DosingSession, PatientProfile, Prompt, Reflection
from api.services.audit import audit
from api.services.crypto import decrypt_text

PSEUDONYM_HEX = 16
MIN_KEY_LENGTH = 16
DAY_DECIMALS = 3


class ExportKeyError(ValueError):
    """No export key, or one too short to resist guessing."""


def pseudonym(key: str, value: object) -> str:
    """HMAC-SHA256(key, str(value)), hex, truncated to 64 bits."""
    return hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def time_bucket(moment: datetime, timezone: str) -> str:
    hour = moment.astimezone(ZoneInfo(timezone)).hour
    return ("night", "morning", "afternoon", "evening")[hour // 6]


# --- columns ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


def _item_columns() -> list[Column]:
    columns = []
    for instrument in CATALOGUE.values():
        for item in instrument.items:
            if item.kind == "text":
                continue
            if item.options:
                values = "; ".join(f"{o.value}={o.label}" for o in item.options)
            else:
                values = f"{item.minimum:g}-{item.maximum:g}" + (f" step {item.step:g}" if item.step else "")
            columns.append(
                Column(
                    f"{instrument.id}__{item.id}",
                    "integer" if item.kind != "number" else "decimal",
                    f"{instrument.title} v{instrument.version}, item {item.id}: {item.text} [{values}]",
                )
            )
    return columns


PID = Column("pid", "string", "Pseudonymous patient id (HMAC-SHA256 of the patient id with the export key)")
BUCKET = "Patient-local time of day: night (0-6h), morning (6-12h), afternoon (12-18h), evening (18-24h)"


def _day(what: str) -> str:
    return f"Days from the patient's anchor to {what} (fractional, 3 decimals; empty if it never happened)"


FILES: dict[str, list[Column]] = {
    "patients.csv": [
        PID,
        Column(
            "anchor",
            "string",
            "Day 0 of this patient: first_dosing_session (start of the first non-cancelled dosing "
            "session) or enrolment (no dosing session recorded)",
        ),
        Column("enrolled_day", "decimal", _day("enrolment")),
        Column("activated_day", "decimal", _day("account activation (invite accepted)")),
    ],
    "checkins.csv": [
        PID,
        Column("checkin_id", "string", "Pseudonymous check-in id"),
        Column("instrument", "string", "Instrument id (see the item columns for its items)"),
        Column("instrument_version", "string", "Instrument version answered"),
        Column("day", "decimal", _day("the time the check-in was recorded on the phone")),
        Column("local_time_bucket", "string", BUCKET),
        Column("prompted", "integer", "1 if the check-in answered a prompt, else 0"),
        Column("total", "integer", "Server-computed total score (empty for unscored instruments)"),
        Column("band", "string", "Severity band code of the total (instrument-specific)"),
        Column("positive", "integer", "1/0: total at or above the instrument's screening cut-point"),
        Column("has_note", "integer", "1 if the patient added a free-text note (text not exported)"),
        *_item_columns(),
    ],
    "prompts.csv": [
        PID,
        Column("prompt_id", "string", "Pseudonymous prompt id"),
        Column("dosing_session_id", "string", "Pseudonymous dosing session id (dosing_sessions.csv)"),
        Column("rule_key", "string", "Schedule rule that planned the prompt"),
        Column("kind", "string", "instrument or reflection"),
        Column("instrument", "string", "Instrument id for instrument prompts"),
        Column("schedule_day", "integer", "Day after the dosing session the rule planned the prompt for"),
        Column(
            "state",
            "string",
            "Final or current state: scheduled/sent/delivered/opened/completed/expired/cancelled",
        ),
        Column("intended_day", "decimal", _day("the planned send time")),
        Column("sent_day", "decimal", _day("sending")),
        Column("delivered_day", "decimal", _day("delivery to the phone")),
        Column("opened_day", "decimal", _day("the patient opening it")),
        Column("answered_day", "decimal", _day("the answer")),
        Column("expired_day", "decimal", _day("expiry unanswered")),
        Column("cancelled_day", "decimal", _day("cancellation")),
        Column("undeliverable", "integer", "1 if the worker gave up pushing it"),
        Column("reminders_sent", "integer", "Reminders sent"),
        Column("attempts", "integer", "Push attempts"),
    ],
    "alerts.csv": [
        PID,
        Column("alert_id", "string", "Pseudonymous alert id"),
        Column("rule", "string", "Flag rule that raised the alert"),
        Column("severity", "string", "urgent, high, medium or low"),
        Column("state", "string", "open, acknowledged or resolved"),
        Column("source", "string", "What raised it: checkin, reflection, prompt, ..."),
        Column("trigger_count", "integer", "Times the rule fired while the alert was unresolved"),
        Column("escalation_level", "integer", "Escalation steps taken (0 = none)"),
        Column("created_day", "decimal", _day("creation")),
        Column("hours_to_acknowledge", "decimal", "Hours from creation to acknowledgement (2 decimals)"),
        Column("hours_to_resolve", "decimal", "Hours from creation to resolution (2 decimals)"),
        Column("outcome", "string", "Resolution outcome code"),
    ],
    "dosing_sessions.csv": [
        PID,
        Column("dosing_session_id", "string", "Pseudonymous dosing session id"),
        Column("session_number", "integer", "Session number in the protocol"),
        Column("start_day", "decimal", _day("the session start (0 for the anchor session)")),
        Column("cancelled", "integer", "1 if the session was cancelled (recorded in error)"),
    ],
}
REFLECTIONS: list[Column] = [
    PID,
    Column("reflection_id", "string", "Pseudonymous id of the reflection or check-in"),
    Column("source", "string", "reflection, or checkin_note (the note of the check-in checkin_id)"),
    Column("checkin_id", "string", "For check-in notes: the check-in (checkins.csv)"),
    Column("day", "decimal", _day("the time it was recorded")),
    Column("local_time_bucket", "string", BUCKET),
    Column("tags", "string", "Patient-chosen tags, separated by ';' (free text)"),
    Column("text", "string", "FREE TEXT written by the patient; may contain identifying details"),
]
DICTIONARY: list[Column] = [
    Column("file", "string", "File name"),
    Column("column", "string", "Column name"),
    Column("type", "string", "string, integer or decimal"),
    Column("description", "string", "Meaning, units and allowed values"),
]


# --- rows ------------------------------------------------------------------------------------------


class _Patient:
    """One patient's pseudonym, anchor and the helpers every file needs."""

    def __init__(self, key: str, profile: PatientProfile, sessions: list[DosingSession]) -> None:
        self.key = key
        self.profile = profile
        self.pid = pseudonym(key, profile.user_id)
        active = [s for s in sessions if s.cancelled_at is None]
        first = min(active, key=lambda s: s.started_at) if active else None
        self.anchor = first.started_at if first else profile.enrolled_at
        self.anchor_kind = "first_dosing_session" if first else "enrolment"

    def day(self, moment: datetime | None) -> float | None:
        if moment is None:
            return None
        return round((moment - self.anchor).total_seconds() / 86400, DAY_DECIMALS)

    def ref(self, kind: str, row_id: int | None) -> str | None:
        return None if row_id is None else pseudonym(self.key, f"{kind}:{row_id}")

    def bucket(self, moment: datetime) -> str:
        return time_bucket(moment, self.profile.timezone)


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 3600, 2)


def _flag(value: object) -> int:
    return 1 if value else 0


def _checkin_row(p: _Patient, c: CheckIn, item_columns: list[str]) -> dict[str, Any]:
    positive = (c.score or {}).get("positive")
    row = {
        "pid": p.pid,
        "checkin_id": p.ref("checkin", c.id),
        "instrument": c.instrument_id,
        "instrument_version": c.instrument_version,
        "day": p.day(c.recorded_at),
        "local_time_bucket": p.bucket(c.recorded_at),
        "prompted": _flag(c.prompt_id),
        "total": c.total,
        "band": c.band,
        "positive": None if positive is None else _flag(positive),
        "has_note": _flag(c.note_ciphertext),
    }
    for item_id, value in (c.answers or {}).items():
        column = f"{c.instrument_id}__{item_id}"
        # Only catalogue items, never free text (notes are stored outside `answers` anyway).
        if column in item_columns and not isinstance(value, str):
            row[column] = value
    return row


def _prompt_row(p: _Patient, r: Prompt) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "prompt_id": p.ref("prompt", r.id),
        "dosing_session_id": p.ref("dosing_session", r.dosing_session_id),
        "rule_key": r.rule_key,
        "kind": r.kind,
        "instrument": r.instrument_id,
        "schedule_day": r.day,
        "state": r.state,
        "intended_day": p.day(r.intended_at),
        "sent_day": p.day(r.sent_at),
        "delivered_day": p.day(r.delivered_at),
        "opened_day": p.day(r.opened_at),
        "answered_day": p.day(r.answered_at),
        "expired_day": p.day(r.expired_at),
        "cancelled_day": p.day(r.cancelled_at),
        "undeliverable": _flag(r.undeliverable_at),
        "reminders_sent": r.reminders_sent,
        "attempts": r.attempts,
    }


def _alert_row(p: _Patient, a: Alert) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "alert_id": p.ref("alert", a.id),
        "rule": a.rule,
        "severity": a.severity,
        "state": a.state,
        "source": a.source_type,
        "trigger_count": a.trigger_count,
        "escalation_level": a.escalation_level,
        "created_day": p.day(a.created_at),
        "hours_to_acknowledge": _hours(a.created_at, a.acknowledged_at),
        "hours_to_resolve": _hours(a.created_at, a.resolved_at),
        "outcome": a.outcome,
    }


def _session_row(p: _Patient, s: DosingSession) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "dosing_session_id": p.ref("dosing_session", s.id),
        "session_number": s.session_number,
        "start_day": p.day(s.started_at),
        "cancelled": _flag(s.cancelled_at),
    }


def _text_rows(p: _Patient, reflections: Iterable[Reflection], checkins: Iterable[CheckIn]) -> Iterator[dict]:
    for r in reflections:
        yield {
            "pid": p.pid,
            "reflection_id": p.ref("reflection", r.id),
            "source": "reflection",
            "checkin_id": None,
            "day": p.day(r.recorded_at),
            "local_time_bucket": p.bucket(r.recorded_at),
            "tags": ";".join(r.tags or []),
            "text": decrypt_text(r.text_ciphertext),
        }
    for c in checkins:
        if c.note_ciphertext is None:
            continue
        yield {
            "pid": p.pid,
            "reflection_id": p.ref("checkin_note", c.id),
            "source": "checkin_note",
            "checkin_id": p.ref("checkin", c.id),
            "day": p.day(c.recorded_at),
            "local_time_bucket": p.bucket(c.recorded_at),
            "tags": "",
            "text": decrypt_text(c.note_ciphertext),
        }


# --- export ----------------------------------------------------------------------------------------


def _rows(
    model: type, patient_column: Any, patient_id: int, time_column: Any, since: datetime | None
) -> list:
    query = select(model).where(patient_column == patient_id)
    if since is not None:
        query = query.where(time_column >= since)
    return list(db.session.scalars(query.order_by(time_column, model.id)))


def export_research(
    out_dir: Path,
    key: str,
    team_id: int | None = None,
    since: datetime | None = None,
    include_reflections: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Write the CSV files into ``out_dir`` (created if needed); returns data rows per file."""
    if len(key) < MIN_KEY_LENGTH:
        raise ExportKeyError(f"the export key must be at least {MIN_KEY_LENGTH} characters")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = dict(FILES)
    if include_reflections:
        files["reflections.csv"] = REFLECTIONS
    files["data_dictionary.csv"] = DICTIONARY
    query = select(PatientProfile).order_by(PatientProfile.user_id)
    if team_id is not None:
        query = query.where(PatientProfile.care_team_id == team_id)
    profiles = list(db.session.scalars(query))
    item_columns = [c.name for c in FILES["checkins.csv"] if "__" in c.name]
    counts = dict.fromkeys(files, 0)

    with ExitStack() as stack:
        writers: dict[str, csv.DictWriter] = {}
        for name, columns in files.items():
            handle = stack.enter_context((out_dir / name).open("w", newline="", encoding="utf-8"))
            writers[name] = csv.DictWriter(handle, fieldnames=[c.name for c in columns])
            writers[name].writeheader()

        def write(name: str, rows: Iterable[dict[str, Any]]) -> None:
            for row in rows:
                writers[name].writerow(row)
                counts[name] += 1

        bar = stack.enter_context(
            tqdm(profiles, desc="research export", unit="patient", disable=None if progress else True)
        )
        for profile in bar:
            pid = profile.user_id
            sessions = list(
                db.session.scalars(
                    select(DosingSession).where(DosingSession.patient_id == pid).order_by(DosingSession.id)
                )
            )
            patient = _Patient(key, profile, sessions)
            write(
                "patients.csv",
                [
                    {
                        "pid": patient.pid,
                        "anchor": patient.anchor_kind,
                        "enrolled_day": patient.day(profile.enrolled_at),
                        "activated_day": patient.day(profile.activated_at),
                    }
                ],
            )
            checkins = _rows(CheckIn, CheckIn.patient_id, pid, CheckIn.recorded_at, since)
            write("checkins.csv", (_checkin_row(patient, c, item_columns) for c in checkins))
            prompts = _rows(Prompt, Prompt.patient_id, pid, Prompt.intended_at, since)
            write("prompts.csv", (_prompt_row(patient, r) for r in prompts))
            alerts = _rows(Alert, Alert.patient_id, pid, Alert.created_at, since)
            write("alerts.csv", (_alert_row(patient, a) for a in alerts))
            in_window = [s for s in sessions if since is None or s.started_at >= since]
            write(
                "dosing_sessions.csv",
                (_session_row(patient, s) for s in sorted(in_window, key=lambda s: (s.started_at, s.id))),
            )
            if include_reflections:
                reflections = _rows(Reflection, Reflection.patient_id, pid, Reflection.recorded_at, since)
                write("reflections.csv", _text_rows(patient, reflections, checkins))
            audit(
                "research_export",
                "patient",
                pid,
                patient_id=pid,
                detail="with_free_text" if include_reflections else "de_identified",
            )
        write(
            "data_dictionary.csv",
            (
                {"file": name, "column": c.name, "type": c.type, "description": c.description}
                for name, columns in files.items()
                for c in columns
            ),
        )
    db.session.commit()
    return counts
