"""The planner: prompts as rows, re-planning unsent ones only, answering, open prompts, adherence."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.extensions import db
from api.models import Prompt
from api.models.types import utcnow
from api.services import planning
from api.services.planning import (
    MSG_ALREADY_ANSWERED,
    MSG_EXPIRED,
    MSG_NO_SUCH_PROMPT,
    MSG_NOT_OPEN,
    MSG_WRONG_KIND,
    adherence,
    answer_prompt,
    cancel_session_prompts,
    ensure_settings,
    open_prompts_for,
    plan_session,
    replan_patient,
    replan_patients,
)
from tests.api.schedule_helpers import add_session, at_local, default_plan, prompts_of

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
# Planning happens well before every dose in these tests unless a test says otherwise.
EARLY = datetime(2026, 9, 1, tzinfo=UTC)


def keys(prompts):
    return [(p.dosing_session_id, p.rule_key, p.occurrence) for p in prompts]


def test_plan_session_plans_every_occurrence_of_the_default_template(world):
    dose = at_local(BERLIN, date(2026, 10, 5), 9)
    session = add_session(world.patient_a.id, dose)
    created = plan_session(session, now=EARLY)
    db.session.commit()

    expected = default_plan(dose, BERLIN)
    rows = prompts_of(world.patient_a.id)
    assert created == len(expected) == len(rows) == 29
    assert [(p.rule_key, p.occurrence, p.intended_at, p.expires_at, p.day) for p in rows] == [
        (o.rule_key, o.occurrence, o.due_at, o.expires_at, o.day) for o in expected
    ]
    assert {p.state for p in rows} == {"scheduled"}
    daily = next(p for p in rows if p.rule_key == "daily-am")
    assert (daily.kind, daily.instrument_id, daily.prompt_text) == ("instrument", "daily", None)
    assert daily.reminder_hours == [4.0] and daily.template_version == 1
    evening = next(p for p in rows if p.rule_key == "evening-settled")
    assert evening.kind == "reflection" and evening.prompt_text.startswith("How are you settling in")
    # Not the last of 3 planned sessions: no follow-up rules.
    assert not any(p.rule_key.startswith("followup") for p in rows)
    # Planning again creates nothing.
    assert plan_session(session, now=EARLY) == 0
    assert replan_patient(world.patient_a.id, "test", now=EARLY).as_dict() == {
        "created": 0,
        "updated": 0,
        "cancelled": 0,
        "revived": 0,
    }


def test_dst_day_seven_moves_one_hour_in_utc(world):
    """New York leaves summer time on 2026-11-01: 09:00 local is 13:00 UTC before and 14:00 after."""
    dose = at_local(NEW_YORK, date(2026, 10, 28), 10)
    session = add_session(world.patient_b.id, dose)
    plan_session(session, now=EARLY)
    daily = {p.day: p for p in prompts_of(world.patient_b.id, rule_key="daily-am")}
    assert daily[1].intended_at == datetime(2026, 10, 29, 13, 0, tzinfo=UTC)
    assert daily[7].intended_at == datetime(2026, 11, 4, 14, 0, tzinfo=UTC)


def test_correction_replans_unsent_and_keeps_history(world):
    dose = at_local(BERLIN, date(2026, 10, 5), 9)
    session = add_session(world.patient_a.id, dose)
    plan_session(session, now=EARLY)
    rows = prompts_of(world.patient_a.id)
    before = {p.id: (p.state, p.intended_at, p.expires_at) for p in rows}
    sent, completed, expired = rows[0], rows[1], rows[2]
    sent.state, sent.sent_at = "sent", sent.intended_at
    completed.state, completed.sent_at, completed.answered_at = "completed", completed.intended_at, utcnow()
    expired.state, expired.sent_at, expired.expired_at = "expired", expired.intended_at, utcnow()
    history = {p.id: (p.state, p.intended_at, p.expires_at) for p in (sent, completed, expired)}
    db.session.commit()

    session.started_at = dose + timedelta(days=1)
    changes = replan_patient(world.patient_a.id, "dosing_session_correction", now=EARLY)
    db.session.commit()

    after = prompts_of(world.patient_a.id)
    assert len(after) == len(rows)  # no duplicates: the unique key holds, updates happen in place
    assert len(set(keys(after))) == len(after)
    by_id = {p.id: p for p in after}
    for pid, old in history.items():
        assert (by_id[pid].state, by_id[pid].intended_at, by_id[pid].expires_at) == old
    moved = [p for p in after if p.id not in history]
    assert changes.updated == len(moved) and changes.created == changes.cancelled == 0
    for p in moved:
        assert p.state == "scheduled"
        assert p.intended_at == before[p.id][1] + timedelta(days=1)


def test_replan_cancels_removed_occurrences_and_creates_missing_ones(world):
    dose = at_local(BERLIN, date(2026, 10, 5), 9)
    session = add_session(world.patient_a.id, dose, number=1)
    plan_session(session, now=EARLY)
    assert not prompts_of(world.patient_a.id, rule_key="followup-daily")

    # Session 1 of 1 becomes the last one: the follow-up occurrences are created.
    ensure_settings(world.patient_a.id).planned_sessions = 1
    changes = replan_patient(world.patient_a.id, "schedule_settings", now=EARLY)
    follow = prompts_of(world.patient_a.id, rule_key="followup-daily")
    assert len(follow) == 4 and changes.created == 4 + 2  # followup-daily x4, followup-phq9 x2

    # And back: they are cancelled (kept in the ledger), then revived without duplicates.
    ensure_settings(world.patient_a.id).planned_sessions = 3
    assert replan_patient(world.patient_a.id, "schedule_settings", now=EARLY).cancelled == 6
    assert {p.state for p in prompts_of(world.patient_a.id, rule_key="followup-daily")} == {"cancelled"}
    ensure_settings(world.patient_a.id).planned_sessions = 1
    assert replan_patient(world.patient_a.id, "schedule_settings", now=EARLY).revived == 6
    follow = prompts_of(world.patient_a.id, rule_key="followup-daily")
    assert len(follow) == 4 and {p.state for p in follow} == {"scheduled"}
    assert all(p.cancelled_at is None for p in follow)


def test_quiet_hours_change_moves_prompts(world):
    dose = at_local(BERLIN, date(2026, 10, 5), 9)
    session = add_session(world.patient_a.id, dose)
    plan_session(session, now=EARLY)
    settings = ensure_settings(world.patient_a.id)
    settings.quiet_start, settings.quiet_end = "18:30", "09:30"
    replan_patient(world.patient_a.id, "schedule_settings", now=EARLY)
    daily = prompts_of(world.patient_a.id, rule_key="daily-am")
    assert daily[0].intended_at == at_local(BERLIN, date(2026, 10, 6), 9, 30)
    # 19:00 reflections fall into quiet hours and move to the next morning's end of quiet hours.
    reflect = prompts_of(world.patient_a.id, rule_key="reflect-session")[0]
    assert reflect.intended_at == at_local(BERLIN, date(2026, 10, 7), 9, 30)
    assert reflect.day == 1


def test_later_session_supersedes_earlier_occurrences_until_cancelled(world):
    first = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9), number=1)
    plan_session(first, now=EARLY)
    total_first = len(prompts_of(world.patient_a.id))
    second_start = at_local(BERLIN, date(2026, 11, 2), 9)  # day 28 of the first session
    second = add_session(world.patient_a.id, second_start, number=2)
    plan_session(second, now=EARLY)
    changes = replan_patient(world.patient_a.id, "dosing_session", now=EARLY)

    first_rows = prompts_of(world.patient_a.id, dosing_session_id=first.id)
    superseded = [p for p in first_rows if p.state == "cancelled"]
    assert len(first_rows) == total_first and changes.cancelled == len(superseded) > 0
    assert all(p.intended_at >= second_start for p in superseded)
    assert all(p.intended_at < second_start for p in first_rows if p.state == "scheduled")

    second.cancelled_at = EARLY
    cancel_session_prompts(second.id, EARLY)
    changes = replan_patient(world.patient_a.id, "dosing_session_cancelled", now=EARLY)
    assert changes.revived == len(superseded)
    assert {p.state for p in prompts_of(world.patient_a.id, dosing_session_id=first.id)} == {"scheduled"}
    assert {p.state for p in prompts_of(world.patient_a.id, dosing_session_id=second.id)} == {"cancelled"}


def test_windows_already_closed_are_not_planned(world):
    """A session recorded late plans only what can still be answered."""
    dose = at_local(BERLIN, date(2026, 10, 5), 9)
    now = at_local(BERLIN, date(2026, 10, 9), 12)  # day 4, noon
    session = add_session(world.patient_a.id, dose)
    created = plan_session(session, now=now)
    expected = [o for o in default_plan(dose, BERLIN) if o.expires_at > now]
    assert created == len(expected) < len(default_plan(dose, BERLIN))
    rows = prompts_of(world.patient_a.id)
    assert min(p.expires_at for p in rows) > now
    # Due but still open: the day-3 questionnaires (48 h) and the day-4 daily check-in (24 h).
    shown = open_prompts_for(world.patient_a.id, now)
    assert sorted((p.day, p.rule_key) for p in shown) == [(3, "gad7"), (3, "phq9"), (4, "daily-am")]


def test_cancel_session_prompts_cancels_unsent_only(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    rows = prompts_of(world.patient_a.id)
    rows[0].state, rows[0].sent_at = "sent", rows[0].intended_at
    rows[1].state, rows[1].answered_at = "completed", rows[1].intended_at
    db.session.commit()
    assert cancel_session_prompts(session.id) == len(rows) - 2
    states = Counter(p.state for p in prompts_of(world.patient_a.id))
    assert states == {"cancelled": len(rows) - 2, "sent": 1, "completed": 1}


# --- answer_prompt ------------------------------------------------------------------------------


@pytest.fixture
def due(world):
    """Patient A's first daily check-in, sent an hour ago and open for three more hours."""
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    now = utcnow()
    prompt = prompts_of(world.patient_a.id, rule_key="daily-am")[0]
    prompt.state, prompt.sent_at = "sent", now - timedelta(hours=1)
    prompt.intended_at, prompt.expires_at = now - timedelta(hours=1), now + timedelta(hours=3)
    prompt.reminder_due_at = now + timedelta(hours=3)
    db.session.commit()
    return prompt


def test_answer_prompt_completes_a_matching_open_prompt(world, due):
    answered = utcnow()
    assert answer_prompt(world.patient_a.id, due.id, answered, "instrument", "daily") is None
    db.session.commit()
    db.session.refresh(due)
    assert (due.state, due.answered_at, due.reminder_due_at) == ("completed", answered, None)
    # A second answer to the same prompt is kept by the caller but not linked.
    assert answer_prompt(world.patient_a.id, due.id, utcnow(), "instrument", "daily") == MSG_ALREADY_ANSWERED


def test_answer_prompt_rejects_other_patients_wrong_kind_and_expired(world, due):
    now = utcnow()
    assert answer_prompt(world.patient_b.id, due.id, now, "instrument", "daily") == MSG_NO_SUCH_PROMPT
    assert answer_prompt(world.patient_a.id, 999999, now, "instrument", "daily") == MSG_NO_SUCH_PROMPT
    assert answer_prompt(world.patient_a.id, due.id, now, "instrument", "phq9") == MSG_WRONG_KIND
    assert answer_prompt(world.patient_a.id, due.id, now, "reflection", None) == MSG_WRONG_KIND
    late = due.expires_at + timedelta(minutes=1)
    assert answer_prompt(world.patient_a.id, due.id, late, "instrument", "daily") == MSG_EXPIRED
    db.session.refresh(due)
    assert due.state == "sent" and due.answered_at is None

    due.state, due.expires_at, due.expired_at = "expired", now - timedelta(minutes=5), now
    db.session.commit()
    assert answer_prompt(world.patient_a.id, due.id, now, "instrument", "daily") == MSG_EXPIRED
    due.state = "cancelled"
    db.session.commit()
    assert answer_prompt(world.patient_a.id, due.id, now, "instrument", "daily") == MSG_NOT_OPEN


def test_answer_recorded_offline_inside_the_window_counts_after_expiry(world, due):
    now = utcnow()
    recorded = now - timedelta(minutes=30)
    due.expires_at, due.state, due.expired_at = now - timedelta(minutes=10), "expired", now
    db.session.commit()
    assert answer_prompt(world.patient_a.id, due.id, recorded, "instrument", "daily") is None
    assert due.state == "completed" and due.answered_at == recorded


def test_future_prompt_cannot_be_answered_but_a_due_scheduled_one_can(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    future = prompts_of(world.patient_a.id, rule_key="reflect-session")[0]
    future.intended_at, future.expires_at = utcnow() + timedelta(days=1), utcnow() + timedelta(days=2)
    db.session.commit()
    assert answer_prompt(world.patient_a.id, future.id, utcnow(), "reflection", None) == MSG_NO_SUCH_PROMPT
    future.intended_at = utcnow() - timedelta(minutes=1)  # due, the worker has not sent it yet
    db.session.commit()
    assert answer_prompt(world.patient_a.id, future.id, utcnow(), "reflection", None) is None
    assert future.state == "completed"


# --- reads --------------------------------------------------------------------------------------


def test_open_prompts_for(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    now = utcnow()
    rows = prompts_of(world.patient_a.id)
    specs = [
        ("sent", -1, 2, None),
        ("scheduled", -1, 2, None),  # worker behind
        ("scheduled", -2, 1, now),  # undeliverable, still open
        ("opened", -3, 1, None),
        ("completed", -1, 2, None),
        ("expired", -30, -1, None),
        ("sent", -30, -1, None),  # window over, worker has not expired it yet
        ("cancelled", -1, 2, None),
        ("scheduled", 1, 5, None),  # future
    ]
    for row, (state, start, end, undeliverable) in zip(rows, specs, strict=False):
        row.state = state
        row.intended_at, row.expires_at = now + timedelta(hours=start), now + timedelta(hours=end)
        row.undeliverable_at = undeliverable
    for row in rows[len(specs) :]:
        row.intended_at = now + timedelta(days=2)
        row.expires_at = now + timedelta(days=3)
    db.session.commit()
    shown = open_prompts_for(world.patient_a.id, now)
    assert [p.id for p in shown] == [rows[3].id, rows[2].id, rows[0].id, rows[1].id]
    assert open_prompts_for(world.patient_b.id, now) == []


def test_adherence_counts_and_rate(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    now = utcnow()
    rows = prompts_of(world.patient_a.id)
    specs = [
        # state, days ago due, hours the window stays open from now, sent
        ("completed", 1, -10, True),
        ("completed", 2, -10, True),
        ("expired", 3, -10, True),
        ("sent", 4, -10, True),  # overdue: counts as expired
        ("delivered", 0.1, 2, True),  # open
        ("scheduled", 0.1, 2, False),  # open, not sent (undeliverable below)
        ("cancelled", 1, -10, False),  # ignored
        ("completed", 10, -200, True),  # only in the 28-day window
        ("expired", 20, -400, True),
        ("expired", 40, -900, True),  # outside both windows
    ]
    for row, (state, days_ago, open_hours, was_sent) in zip(rows, specs, strict=False):
        row.state = state
        row.intended_at = now - timedelta(days=days_ago)
        row.expires_at = now + timedelta(hours=open_hours)
        row.sent_at = row.intended_at if was_sent else None
    rows[5].undeliverable_at = now
    for row in rows[len(specs) :]:
        row.intended_at, row.expires_at = now + timedelta(days=1), now + timedelta(days=2)
    db.session.commit()

    week, month = adherence(world.patient_a.id, now)["windows"]
    assert week == {
        "days": 7,
        "since": now - timedelta(days=7),
        "due": 6,
        "sent": 5,
        "completed": 2,
        "expired": 2,
        "open": 2,
        "undeliverable": 1,
        "completion_rate": 0.5,
    }
    assert (month["days"], month["due"], month["completed"], month["expired"]) == (28, 8, 3, 3)
    assert month["completion_rate"] == 0.5
    empty = adherence(world.patient_b.id, now)["windows"][0]
    assert empty["due"] == 0 and empty["completion_rate"] is None


def test_unique_key_prevents_double_planning(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    db.session.commit()
    first = prompts_of(world.patient_a.id)[0]
    db.session.add(
        Prompt(
            patient_id=first.patient_id,
            dosing_session_id=first.dosing_session_id,
            rule_key=first.rule_key,
            occurrence=first.occurrence,
            kind=first.kind,
            prompt_text=first.prompt_text,
            day=first.day,
            state="scheduled",
            intended_at=first.intended_at,
            expires_at=first.expires_at,
            reminder_hours=[],
            template_version=1,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    planned = default_plan(at_local(BERLIN, date(2026, 10, 5), 9), BERLIN)
    assert db.session.scalar(select(func.count()).select_from(Prompt)) == len(planned)


def test_same_local_times_in_each_patients_own_zone(world):
    day = date(2026, 10, 5)
    plan_session(add_session(world.patient_a.id, at_local(BERLIN, day, 9)), now=EARLY)
    plan_session(add_session(world.patient_b.id, at_local(NEW_YORK, day, 9)), now=EARLY)
    a = prompts_of(world.patient_a.id, rule_key="daily-am")[0].intended_at
    b = prompts_of(world.patient_b.id, rule_key="daily-am")[0].intended_at
    assert a == at_local(BERLIN, date(2026, 10, 6), 9) and b == at_local(NEW_YORK, date(2026, 10, 6), 9)
    assert b - a == timedelta(hours=6)


# --- set-based writes ---------------------------------------------------------------------------


def test_replan_many_patients_matches_one_by_one(world):
    """``replan_patients`` (batched loads, one COPY / executemany per batch) plans what
    ``replan_patient`` plans, in each patient's own zone, and a second pass changes nothing."""
    day = date(2026, 10, 5)
    add_session(world.patient_a.id, at_local(BERLIN, day, 9), number=1)
    add_session(world.patient_a.id, at_local(BERLIN, day + timedelta(days=28), 9), number=2)
    add_session(world.patient_b.id, at_local(NEW_YORK, day, 9), number=3)
    changes = replan_patients([world.patient_b.id, world.patient_a.id, world.patient_a.id], "test", EARLY)
    db.session.commit()

    rows_a, rows_b = prompts_of(world.patient_a.id), prompts_of(world.patient_b.id)
    assert changes[world.patient_a.id].created == len(rows_a)
    assert (
        changes[world.patient_b.id].created
        == len(rows_b)
        == len(default_plan(at_local(NEW_YORK, day, 9), NEW_YORK, is_last=True))
    )
    assert {p.state for p in rows_a + rows_b} == {"scheduled"}
    assert all(p.created_at is not None and p.updated_at is not None for p in rows_a)
    again = replan_patients([world.patient_a.id, world.patient_b.id], "test", EARLY)
    assert not any(again.values())


def test_replan_refreshes_prompts_already_loaded_in_the_session(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    db.session.commit()
    loaded = db.session.scalars(select(Prompt).where(Prompt.patient_id == world.patient_a.id)).all()
    before = {p.id: p.intended_at for p in loaded}

    session.started_at += timedelta(days=1)
    replan_patient(world.patient_a.id, "dosing_session_correction", now=EARLY)

    # No expire_all(): the objects the caller holds show the new plan.
    assert all(p.intended_at == before[p.id] + timedelta(days=1) for p in loaded)


def test_a_prompt_sent_while_planning_keeps_its_state_and_time(world):
    """The planner's UPDATEs are conditional on the state it read: a row the worker sent between
    the planner's read and its write is history and is not re-timed or cancelled."""
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    db.session.commit()
    first, second = prompts_of(world.patient_a.id)[:2]
    sent_at, first_time = utcnow(), first.intended_at

    session.started_at += timedelta(days=1)
    db.session.flush()
    contexts = planning._load_contexts([world.patient_a.id])
    ledgers = planning._load_ledgers([world.patient_a.id])
    # The worker's conditional UPDATE lands after the planner read the ledger.
    db.session.execute(update(Prompt).where(Prompt.id == first.id).values(state="sent", sent_at=sent_at))
    changes = planning._plan(contexts, ledgers, EARLY)[world.patient_a.id]
    db.session.commit()

    assert changes.updated == len(prompts_of(world.patient_a.id))  # planned, but not applied to `first`
    first, second = db.session.get(Prompt, first.id), db.session.get(Prompt, second.id)
    assert (first.state, first.intended_at, first.sent_at) == ("sent", first_time, sent_at)
    assert second.state == "scheduled" and second.intended_at > first_time


def test_planner_insert_reports_a_duplicate_key_as_integrity_error(world):
    session = add_session(world.patient_a.id, at_local(BERLIN, date(2026, 10, 5), 9))
    plan_session(session, now=EARLY)
    db.session.commit()
    contexts = planning._load_contexts([world.patient_a.id])
    # An empty ledger: the planner believes nothing is stored yet and inserts every key again.
    with pytest.raises(IntegrityError):
        planning._plan(contexts, {world.patient_a.id: planning._Ledger()}, EARLY)
    db.session.rollback()
    assert len(prompts_of(world.patient_a.id)) == len(default_plan(session.started_at, BERLIN))


def test_an_error_while_planning_a_batch_propagates_and_nothing_is_written(world, monkeypatch):
    day = date(2026, 10, 5)
    add_session(world.patient_a.id, at_local(BERLIN, day, 9))
    add_session(world.patient_b.id, at_local(NEW_YORK, day, 9))
    db.session.commit()
    real_expand = planning.expand

    def failing_expand(rules, dose_start, tz, *args, **kwargs):
        if str(tz) == NEW_YORK:
            raise ValueError("boom")
        return real_expand(rules, dose_start, tz, *args, **kwargs)

    monkeypatch.setattr(planning, "expand", failing_expand)
    # Patient A's rows are already streaming into the database when planning B fails.
    with pytest.raises(ValueError, match="boom"):
        replan_patients([world.patient_a.id, world.patient_b.id], "test", EARLY)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Prompt)) == 0
