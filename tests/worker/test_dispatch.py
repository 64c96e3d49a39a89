"""Prompt dispatch, reminders, expiry, leases and heartbeats against the database and the real
firebase-admin path (FcmNotifier -> FakeFcmServer)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import timedelta
from threading import Event

import pytest
from sqlalchemy import select, update

from api.extensions import db
from api.models import Device, Prompt, WorkerHeartbeat
from api.models.prompts import CANCELLED, COMPLETED, DELIVERED, EXPIRED, OPENED, SCHEDULED, SENT
from api.services.planning import open_prompts_for
from api.services.worker_health import worker_health
from tests.worker.conftest import WORKER_ID, active_tokens, add_device, add_prompt, reload
from worker.dispatch import DispatchStats, dispatch_batch, drain, due_prompts_query, run_dispatch
from worker.expiry import expire_overdue_prompts
from worker.jobs import register_jobs, run_job
from worker.leases import reclaim_expired_leases
from worker.reminders import ClaimedReminder, reminder_attempt, reminder_batch
from worker.settings import settings_from_env


def by_token(fcm):
    return {r.token: r for r in fcm.requests}


# --- sending ------------------------------------------------------------------------------------


def test_due_prompt_goes_to_every_active_device_with_a_generic_payload(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    patient = patients.patient_a
    second = add_device(patient)
    gone = add_device(patient, active=False)
    prompt = add_prompt(
        patient,
        clock.now - timedelta(minutes=1),
        expires_at=clock.now + timedelta(hours=10),
        reminder_hours=[4, 8],
        prompt_text=None,
    )

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert (stats.claimed, stats.messages, stats.sent) == (1, 2, 1)
    requests = by_token(fcm)
    assert sorted(requests) == active_tokens(patient)
    assert second.token in requests and gone.token not in requests
    ttl = 10 * 3600
    for token, request in requests.items():
        message = request.body["message"]
        apns = message["apns"]["headers"]
        assert abs(int(apns["apns-expiration"]) - (time.time() + ttl)) < 30
        assert message == {
            "token": token,
            "notification": {"title": "Integration Companion", "body": "You have a new check-in"},
            "data": {"prompt_id": str(prompt.id), "kind": "prompt"},
            "android": {"collapse_key": f"prompt-{prompt.id}", "ttl": f"{ttl}s", "priority": "high"},
            "apns": {
                "headers": {
                    "apns-collapse-id": f"prompt-{prompt.id}",
                    "apns-expiration": apns["apns-expiration"],
                    "apns-priority": "10",
                }
            },
        }
        # No health information leaves the building.
        assert "phq" not in json.dumps(request.body).lower()

    row = reload(prompt)
    assert row.state == SENT
    assert row.sent_at == clock.now
    assert row.reminder_due_at == clock.now + timedelta(hours=4)
    assert (row.attempts, row.locked_by, row.locked_until, row.last_error) == (1, None, None, None)
    assert hooks.undeliverable == []
    # Sent once: nothing left to claim.
    assert dispatch_batch(fcm_notifier, settings, clock=clock).claimed == 0
    assert fcm.request_count == 2


def test_only_due_claimable_prompts_are_sent(patients, fcm, fcm_notifier, settings, clock, hooks):
    now = clock.now
    patient = patients.patient_a
    add_prompt(patient, now + timedelta(minutes=5))  # not due yet
    add_prompt(patient, now - timedelta(hours=13), expires_at=now - timedelta(minutes=1))  # window closed
    add_prompt(patient, now - timedelta(minutes=1), state=CANCELLED)
    add_prompt(patient, now - timedelta(minutes=1), undeliverable_at=now - timedelta(seconds=5))
    add_prompt(patient, now - timedelta(minutes=1), next_attempt_at=now + timedelta(seconds=30))
    add_prompt(
        patient, now - timedelta(minutes=1), locked_by="other", locked_until=now + timedelta(seconds=30)
    )
    due = add_prompt(patient, now - timedelta(minutes=1), next_attempt_at=now - timedelta(seconds=1))

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert stats.claimed == 1
    assert [r.body["message"]["data"]["prompt_id"] for r in fcm.requests] == [str(due.id)]


def test_claims_oldest_first_in_batches(patients, fcm, fcm_notifier, settings, clock, hooks):
    now = clock.now
    prompts = [add_prompt(patients.patient_a, now - timedelta(minutes=m)) for m in (1, 30, 10)]
    small = replace(settings, batch_size=2)

    assert dispatch_batch(fcm_notifier, small, clock=clock).claimed == 2
    assert {reload(p).state for p in prompts[1:]} == {SENT}
    assert reload(prompts[0]).state == SCHEDULED
    stats = run_dispatch(fcm_notifier, small)  # the loop drains what is left
    assert stats.claimed == 1 and reload(prompts[0]).state == SENT


@pytest.mark.parametrize(
    ("status", "code"), [(404, "UNREGISTERED"), (403, "SENDER_ID_MISMATCH"), (400, "INVALID_ARGUMENT")]
)
def test_dead_tokens_deactivate_the_device_and_the_other_device_still_gets_it(
    patients, fcm, fcm_notifier, settings, clock, hooks, status, code
):
    patient = patients.patient_a
    [dead_token] = active_tokens(patient)
    healthy = add_device(patient)
    fcm.program(dead_token, [(status, code)])
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert stats.dead_tokens == 1
    device = db.session.scalar(select(Device).where(Device.token == dead_token))
    assert (device.active, device.deactivation_reason) == (False, code)
    assert device.deactivated_at is not None
    assert db.session.get(Device, healthy.id).active
    assert reload(prompt).state == SENT
    assert hooks.undeliverable == []


def test_all_tokens_dead_makes_the_prompt_undeliverable(patients, fcm, fcm_notifier, settings, clock, hooks):
    patient = patients.patient_a
    [token] = active_tokens(patient)
    fcm.program(token, [(404, "UNREGISTERED")])
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    dispatch_batch(fcm_notifier, settings, clock=clock)

    row = reload(prompt)
    assert row.state == SCHEDULED and row.undeliverable_at == clock.now
    assert row.last_error == "UNREGISTERED"
    assert hooks.undeliverable == [(prompt.id, "no_active_device")]
    assert active_tokens(patient) == []


def test_a_device_registered_again_meanwhile_is_not_deactivated(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    patient = patients.patient_a
    [token] = active_tokens(patient)
    fcm.program(token, [(404, "UNREGISTERED")])
    add_prompt(patient, clock.now - timedelta(minutes=1))
    db.session.execute(
        update(Device).where(Device.token == token).values(last_seen_at=clock.now + timedelta(seconds=1))
    )
    db.session.commit()

    dispatch_batch(fcm_notifier, settings, clock=clock)

    assert active_tokens(patient) == [token]


def test_no_active_device_is_undeliverable_at_once_and_still_shown_in_the_app(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    patient = patients.patient_a
    db.session.execute(update(Device).where(Device.user_id == patient.id).values(active=False))
    db.session.commit()
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1), expires_at=clock.now + timedelta(hours=2))

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert (stats.claimed, stats.messages, stats.undeliverable) == (1, 0, 1)
    assert fcm.request_count == 0
    row = reload(prompt)
    assert (row.state, row.undeliverable_at, row.last_error) == (SCHEDULED, clock.now, "no_active_device")
    assert row.locked_by is None
    assert hooks.undeliverable == [(prompt.id, "no_active_device")]
    assert [p.id for p in open_prompts_for(patient.id, clock.now)] == [prompt.id]
    # Given up: never claimed again.
    assert dispatch_batch(fcm_notifier, settings, clock=clock).claimed == 0


def test_permanent_failure_is_undeliverable_and_keeps_the_device(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    patient = patients.patient_a
    [token] = active_tokens(patient)
    fcm.program(token, [(403, "THIRD_PARTY_AUTH_ERROR")])
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    dispatch_batch(fcm_notifier, settings, clock=clock)

    assert hooks.undeliverable == [(prompt.id, "push_rejected")]
    assert reload(prompt).last_error == "THIRD_PARTY_AUTH_ERROR"
    assert active_tokens(patient) == [token]


@pytest.mark.parametrize(
    ("response", "code", "floor"),
    [
        ((500, "INTERNAL"), "INTERNAL", 0),
        ((503, "UNAVAILABLE"), "UNAVAILABLE", 0),
        ((429, "QUOTA_EXCEEDED", {"Retry-After": "120"}), "QUOTA_EXCEEDED", 120),
        ((503, "UNAVAILABLE", {"Retry-After": "45"}), "UNAVAILABLE", 45),
    ],
)
def test_transient_errors_back_off_and_retry(
    patients, fcm, fcm_notifier, settings, clock, hooks, response, code, floor
):
    patient = patients.patient_a
    [token] = active_tokens(patient)
    fcm.program(token, [response])
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert stats.retried == 1
    row = reload(prompt)
    assert (row.state, row.attempts, row.last_error, row.locked_by) == (SCHEDULED, 1, code, None)
    delay = (row.next_attempt_at - clock.now).total_seconds()
    # First retry: full jitter over [0, base], Retry-After as a floor.
    assert floor <= delay <= max(floor, settings.retry_base_seconds)
    assert active_tokens(patient) == [token]

    # Not before its time ...
    clock.now = row.next_attempt_at - timedelta(microseconds=1)
    if delay > 0:
        assert dispatch_batch(fcm_notifier, settings, clock=clock).claimed == 0
    # ... then sent.
    clock.now = row.next_attempt_at
    assert dispatch_batch(fcm_notifier, settings, clock=clock).sent == 1
    row = reload(prompt)
    assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == (SENT, 2, None, None)
    assert fcm.request_count == 2


def test_gives_up_after_max_attempts(patients, fcm, fcm_notifier, settings, clock, hooks):
    patient = patients.patient_a
    fcm.set_default((503, "UNAVAILABLE"))
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    for attempt in range(1, settings.max_attempts + 1):
        assert dispatch_batch(fcm_notifier, settings, clock=clock).claimed == 1
        row = reload(prompt)
        assert row.attempts == attempt
        if attempt < settings.max_attempts:
            assert row.undeliverable_at is None
            clock.now = row.next_attempt_at

    assert (row.undeliverable_at, row.last_error, row.state) == (clock.now, "UNAVAILABLE", SCHEDULED)
    assert hooks.undeliverable == [(prompt.id, "retries_exhausted")]
    clock.advance(hours=1)
    assert dispatch_batch(fcm_notifier, settings, clock=clock).claimed == 0
    assert fcm.request_count == settings.max_attempts


def test_a_retry_after_beyond_the_window_gives_up(patients, fcm, fcm_notifier, settings, clock, hooks):
    patient = patients.patient_a
    [token] = active_tokens(patient)
    fcm.program(token, [(429, "QUOTA_EXCEEDED", {"Retry-After": "7200"})])
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1), expires_at=clock.now + timedelta(hours=1))

    dispatch_batch(fcm_notifier, settings, clock=clock)

    assert hooks.undeliverable == [(prompt.id, "retries_exhausted")]
    assert reload(prompt).last_error == "QUOTA_EXCEEDED"


def test_mixed_batch_records_each_prompt(patients, fcm, fcm_notifier, settings, clock, hooks):
    now = clock.now
    [token_b] = active_tokens(patients.patient_b)
    fcm.program(token_b, [(503, "UNAVAILABLE")])
    ok = add_prompt(patients.patient_a, now - timedelta(minutes=2))
    retry = add_prompt(patients.patient_b, now - timedelta(minutes=1))

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert (stats.claimed, stats.sent, stats.retried) == (2, 1, 1)
    assert reload(ok).state == SENT
    assert reload(retry).next_attempt_at is not None


def test_a_claim_made_stale_meanwhile_changes_nothing(patients, fcm, fcm_notifier, settings, clock, hooks):
    """The planner re-times a row while it is being sent (clearing the lease): the outcome is
    not written over the new plan."""
    prompt = add_prompt(patients.patient_a, clock.now - timedelta(minutes=1))
    later = clock.now + timedelta(hours=1)

    class ReplanningNotifier:
        def send(self, messages):
            db.session.execute(
                update(Prompt)
                .where(Prompt.id == prompt.id)
                .values(intended_at=later, locked_by=None, locked_until=None, attempts=0)
            )
            db.session.commit()
            return fcm_notifier.send(messages)

    dispatch_batch(ReplanningNotifier(), settings, clock=clock)

    row = reload(prompt)
    assert (row.state, row.sent_at, row.intended_at, row.attempts) == (SCHEDULED, None, later, 0)


def test_the_app_marking_it_delivered_during_the_send_keeps_that_state(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    prompt = add_prompt(patients.patient_a, clock.now - timedelta(minutes=1), reminder_hours=[1])

    class AppShowsItNotifier:
        def send(self, messages):
            db.session.execute(update(Prompt).where(Prompt.id == prompt.id).values(state=DELIVERED))
            db.session.commit()
            return fcm_notifier.send(messages)

    dispatch_batch(AppShowsItNotifier(), settings, clock=clock)

    row = reload(prompt)
    assert (row.state, row.sent_at, row.locked_by) == (DELIVERED, clock.now, None)
    assert row.reminder_due_at == clock.now + timedelta(hours=1)


def test_due_prompts_query_is_the_single_claim_condition(app, clock):
    sql = str(due_prompts_query(clock.now, 10))
    for column in (
        "state",
        "intended_at",
        "expires_at",
        "undeliverable_at",
        "next_attempt_at",
        "locked_until",
    ):
        assert f"prompts.{column}" in sql


# --- leases -------------------------------------------------------------------------------------


def test_an_expired_lease_is_claimed_again_and_sent(patients, fcm, fcm_notifier, settings, clock, hooks):
    now = clock.now
    stale = add_prompt(
        patients.patient_a,
        now - timedelta(minutes=5),
        locked_by="crashed-worker",
        locked_until=now - timedelta(seconds=1),
        attempts=1,
    )
    held = add_prompt(
        patients.patient_b,
        now - timedelta(minutes=5),
        locked_by="busy-worker",
        locked_until=now + timedelta(seconds=30),
        attempts=1,
    )

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert stats.sent == 1
    row = reload(stale)
    assert (row.state, row.attempts, row.locked_by) == (SENT, 2, None)
    assert reload(held).state == SCHEDULED


def test_reclaim_clears_and_counts_expired_leases(patients, clock):
    now = clock.now
    stale = add_prompt(
        patients.patient_a,
        now - timedelta(minutes=5),
        locked_by="gone",
        locked_until=now - timedelta(seconds=1),
    )
    stale_reminder = add_prompt(
        patients.patient_a,
        now - timedelta(hours=5),
        state=SENT,
        sent_at=now - timedelta(hours=5),
        reminder_due_at=now - timedelta(hours=1),
        locked_by="gone",
        locked_until=now - timedelta(seconds=1),
    )
    held = add_prompt(
        patients.patient_a,
        now - timedelta(minutes=5),
        locked_by="busy",
        locked_until=now + timedelta(seconds=30),
    )

    assert reclaim_expired_leases(now) == 2

    assert (reload(stale).locked_by, reload(stale).locked_until) == (None, None)
    assert reload(stale_reminder).locked_by is None
    assert reload(held).locked_by == "busy"
    assert reclaim_expired_leases(now) == 0


def test_a_prompt_whose_claims_keep_dying_is_given_up(patients, fcm, fcm_notifier, settings, clock, hooks):
    """Each claim counts an attempt; a claim past the limit (earlier ones never recorded an
    outcome: the worker died each time) is not sent again."""
    prompt = add_prompt(
        patients.patient_a,
        clock.now - timedelta(minutes=30),
        locked_by="crashed",
        locked_until=clock.now - timedelta(seconds=1),
        attempts=settings.max_attempts,
    )

    stats = dispatch_batch(fcm_notifier, settings, clock=clock)

    assert (stats.claimed, stats.messages, stats.undeliverable) == (1, 0, 1)
    assert fcm.request_count == 0
    assert hooks.undeliverable == [(prompt.id, "retries_exhausted")]


# --- reminders ----------------------------------------------------------------------------------


def reminder_requests(fcm):
    return [r for r in fcm.requests if r.body["message"]["data"]["kind"] == "reminder"]


def test_reminders_follow_the_hours_and_stop_at_the_last(patients, fcm, fcm_notifier, settings, clock, hooks):
    start = clock.now
    patient = patients.patient_a
    [token] = active_tokens(patient)
    prompt = add_prompt(
        patient, start - timedelta(minutes=1), expires_at=start + timedelta(hours=6), reminder_hours=[1, 3]
    )
    dispatch_batch(fcm_notifier, settings, clock=clock)

    clock.now = start + timedelta(minutes=59)
    assert reminder_batch(fcm_notifier, settings, clock=clock).claimed == 0

    clock.now = start + timedelta(hours=1)
    stats = reminder_batch(fcm_notifier, settings, clock=clock)
    assert (stats.claimed, stats.sent) == (1, 1)
    [request] = reminder_requests(fcm)
    message = request.body["message"]
    assert message["token"] == token
    assert message["notification"] == {
        "title": "Integration Companion",
        "body": "A check-in is waiting for you",
    }
    assert message["data"] == {"prompt_id": str(prompt.id), "kind": "reminder"}
    # Same collapse key as the prompt: it replaces the earlier notification.
    assert (
        message["android"]["collapse_key"]
        == message["apns"]["headers"]["apns-collapse-id"]
        == f"prompt-{prompt.id}"
    )
    assert message["android"]["ttl"] == f"{5 * 3600}s"
    row = reload(prompt)
    assert (row.reminders_sent, row.reminder_due_at, row.state) == (1, start + timedelta(hours=3), SENT)

    clock.now = start + timedelta(hours=3)
    assert reminder_batch(fcm_notifier, settings, clock=clock).sent == 1
    row = reload(prompt)
    assert (row.reminders_sent, row.reminder_due_at) == (2, None)

    clock.advance(hours=2)
    assert reminder_batch(fcm_notifier, settings, clock=clock).claimed == 0
    assert len(reminder_requests(fcm)) == 2


def test_reminder_hours_at_or_after_expiry_are_not_planned(
    patients, fcm, fcm_notifier, settings, clock, hooks
):
    prompt = add_prompt(
        patients.patient_a,
        clock.now - timedelta(minutes=1),
        expires_at=clock.now + timedelta(hours=2),
        reminder_hours=[2, 4],
    )
    dispatch_batch(fcm_notifier, settings, clock=clock)
    assert reload(prompt).reminder_due_at is None


@pytest.mark.parametrize("state", [OPENED, COMPLETED, EXPIRED, CANCELLED, SCHEDULED])
def test_no_reminder_unless_sent_or_delivered_and_unanswered(
    patients, fcm, fcm_notifier, settings, clock, state
):
    now = clock.now
    add_prompt(
        patients.patient_a,
        now - timedelta(hours=2),
        state=state,
        sent_at=now - timedelta(hours=2),
        reminder_due_at=now - timedelta(minutes=1),
        reminder_hours=[1],
    )
    assert reminder_batch(fcm_notifier, settings, clock=clock).claimed == 0
    assert fcm.request_count == 0


def test_delivered_prompts_are_reminded(patients, fcm, fcm_notifier, settings, clock):
    now = clock.now
    add_prompt(
        patients.patient_a,
        now - timedelta(hours=2),
        state=DELIVERED,
        sent_at=now - timedelta(hours=2),
        reminder_due_at=now - timedelta(hours=1),
        reminder_hours=[1],
    )
    assert reminder_batch(fcm_notifier, settings, clock=clock).sent == 1


def test_no_reminder_after_expiry(patients, fcm, fcm_notifier, settings, clock):
    now = clock.now
    add_prompt(
        patients.patient_a,
        now - timedelta(hours=3),
        expires_at=now,
        state=SENT,
        sent_at=now - timedelta(hours=3),
        reminder_due_at=now - timedelta(hours=1),
        reminder_hours=[2],
    )
    assert reminder_batch(fcm_notifier, settings, clock=clock).claimed == 0


def test_reminders_go_out_oldest_first_and_missed_hours_are_skipped(
    patients, fcm, fcm_notifier, settings, clock
):
    now = clock.now
    sent_at = now - timedelta(hours=5)
    prompts = [
        add_prompt(
            patients.patient_a,
            sent_at,
            state=SENT,
            sent_at=sent_at,
            reminder_due_at=now - timedelta(minutes=minutes),
            reminder_hours=[1, 2, 3, 8],
        )
        for minutes in (10, 40, 20)
    ]

    assert reminder_batch(fcm_notifier, replace(settings, batch_size=2), clock=clock).sent == 2

    assert [reload(p).reminders_sent for p in prompts] == [0, 1, 1]
    # The worker was "down": hours 2 and 3 passed already, so the next one is hour 8, not a pile.
    assert reload(prompts[1]).reminder_due_at == sent_at + timedelta(hours=8)


def test_transient_reminder_failure_retries_the_same_reminder(patients, fcm, fcm_notifier, settings, clock):
    now = clock.now
    [token] = active_tokens(patients.patient_a)
    fcm.program(token, [(503, "UNAVAILABLE", {"Retry-After": "90"})])
    prompt = add_prompt(
        patients.patient_a,
        now - timedelta(hours=1),
        state=SENT,
        sent_at=now - timedelta(hours=1),
        reminder_due_at=now,
        reminder_hours=[1, 4],
    )

    stats = reminder_batch(fcm_notifier, settings, clock=clock)

    assert stats.retried == 1
    row = reload(prompt)
    assert row.reminders_sent == 0 and row.locked_by is None
    assert now + timedelta(seconds=90) <= row.reminder_due_at <= now + timedelta(seconds=90 + 10)
    clock.now = row.reminder_due_at
    assert reminder_batch(fcm_notifier, settings, clock=clock).sent == 1
    assert reload(prompt).reminder_due_at == now - timedelta(hours=1) + timedelta(hours=4)


def test_reminder_retries_back_off_further_each_time(clock):
    sent_at = clock.now - timedelta(hours=1)

    def attempt(due_offset_s: float, now_offset_s: float) -> int:
        reminder = ClaimedReminder(
            1, 1, clock.now + timedelta(hours=5), sent_at, [1, 4], clock.now + timedelta(seconds=due_offset_s)
        )
        return reminder_attempt(reminder, clock.now + timedelta(seconds=now_offset_s), base_seconds=10)

    # Nominal time: sent_at + 1 h == clock.now. Retries move reminder_due_at, not the nominal time.
    assert attempt(0, 0) == 0
    assert attempt(8, 8) == 0
    assert attempt(30, 30) == 2
    assert attempt(150, 150) == 4
    assert attempt(630, 630) == 6


def test_reminder_dead_token_deactivates_and_skips(patients, fcm, fcm_notifier, settings, clock):
    now = clock.now
    [token] = active_tokens(patients.patient_a)
    fcm.program(token, [(404, "UNREGISTERED")])
    prompt = add_prompt(
        patients.patient_a,
        now - timedelta(hours=1),
        state=SENT,
        sent_at=now - timedelta(hours=1),
        reminder_due_at=now,
        reminder_hours=[1, 4],
    )

    stats = reminder_batch(fcm_notifier, settings, clock=clock)

    assert (stats.skipped, stats.dead_tokens) == (1, 1)
    assert active_tokens(patients.patient_a) == []
    row = reload(prompt)
    assert (row.reminders_sent, row.reminder_due_at) == (0, now + timedelta(hours=3))


# --- expiry -------------------------------------------------------------------------------------


def test_expiry_closes_pending_prompts_in_batches_and_calls_the_hook(patients, clock, hooks):
    now = clock.now
    past = now - timedelta(hours=13)
    closed = now - timedelta(seconds=1)
    overdue = [
        add_prompt(
            patients.patient_a, past, expires_at=closed, state=state, reminder_due_at=now - timedelta(hours=1)
        )
        for state in (SCHEDULED, SENT, DELIVERED, OPENED)
    ]
    overdue.append(add_prompt(patients.patient_b, past, expires_at=now))
    untouched = [
        add_prompt(patients.patient_a, past, expires_at=closed, state=COMPLETED),
        add_prompt(patients.patient_a, past, expires_at=closed, state=CANCELLED),
        add_prompt(patients.patient_b, now - timedelta(hours=1), expires_at=now + timedelta(seconds=1)),
    ]

    assert expire_overdue_prompts(now, batch_size=2) == 5

    for prompt in overdue:
        row = reload(prompt)
        assert (row.state, row.expired_at, row.reminder_due_at) == (EXPIRED, now, None)
    assert [reload(p).state for p in untouched] == [COMPLETED, CANCELLED, SCHEDULED]
    assert set().union(*hooks.expired) == {patients.patient_a.id, patients.patient_b.id}
    assert expire_overdue_prompts(now) == 0


def test_expiry_voids_a_lease(patients, fcm, fcm_notifier, settings, clock, hooks):
    prompt = add_prompt(
        patients.patient_a, clock.now - timedelta(hours=1), expires_at=clock.now + timedelta(minutes=1)
    )

    class SlowNotifier:
        def send(self, messages):
            expire_overdue_prompts(clock.now + timedelta(minutes=2))
            return fcm_notifier.send(messages)

    dispatch_batch(SlowNotifier(), settings, clock=clock)

    row = reload(prompt)
    assert (row.state, row.sent_at, row.locked_by) == (EXPIRED, None, None)


def test_failing_expiry_hook_does_not_block_expiry(patients, clock, monkeypatch):
    from api.services import alerts

    def broken(patient_ids):
        db.session.execute(update(Prompt).values(day=99))  # rolled back with the savepoint
        raise RuntimeError("boom")

    monkeypatch.setattr(alerts, "on_prompts_expired", broken)
    prompt = add_prompt(patients.patient_a, clock.now - timedelta(hours=13), expires_at=clock.now)

    assert expire_overdue_prompts(clock.now) == 1
    row = reload(prompt)
    assert (row.state, row.day) == (EXPIRED, 7)


def test_real_undeliverable_hook_raises_an_alert(patients, fcm, fcm_notifier, settings, clock):
    """Integration with the alerts service (not the recorder): a low 'undeliverable' alert."""
    from api.models import Alert

    patient = patients.patient_a
    db.session.execute(update(Device).where(Device.user_id == patient.id).values(active=False))
    db.session.commit()
    prompt = add_prompt(patient, clock.now - timedelta(minutes=1))

    dispatch_batch(fcm_notifier, settings, clock=clock)

    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert is not None and alert.rule == "undeliverable"
    assert alert.source_id == prompt.id


# --- jobs, heartbeats and health ----------------------------------------------------------------


def test_run_job_records_heartbeats_and_hides_error_messages(app, clock):
    assert run_job(app, WORKER_ID, "dispatch", lambda: 42) == 42

    def failing():
        raise ValueError("patient 7 token abc123 said something")

    assert run_job(app, WORKER_ID, "expiry", failing) is None

    db.session.expire_all()
    rows = {r.job: r for r in db.session.scalars(select(WorkerHeartbeat))}
    assert rows["dispatch"].last_success_at is not None and rows["dispatch"].last_error is None
    assert rows["expiry"].last_success_at is None and rows["expiry"].last_error_at is not None
    assert rows["expiry"].last_error.startswith("ValueError at tests/worker/test_dispatch.py:")
    assert "abc123" not in rows["expiry"].last_error

    first = rows["dispatch"].last_success_at
    run_job(app, WORKER_ID, "dispatch", lambda: None)
    db.session.expire_all()
    assert db.session.get(WorkerHeartbeat, (WORKER_ID, "dispatch")).last_success_at > first


def test_registered_jobs_run_and_beat(app, patients, fcm, fcm_notifier, settings, hooks):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    register_jobs(scheduler, app, fcm_notifier, settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    mine = ("dispatch", "reminders", "expiry", "reclaim")  # alert jobs are registered here too
    assert set(mine) <= set(jobs)
    assert jobs["dispatch"].trigger.interval == timedelta(seconds=2)
    assert jobs["reminders"].trigger.interval == timedelta(seconds=10)
    assert jobs["expiry"].trigger.interval == jobs["reclaim"].trigger.interval == timedelta(seconds=30)

    for name in mine:  # what the scheduler calls, in this thread
        jobs[name].func(*jobs[name].args)

    db.session.expire_all()
    beats = db.session.scalars(select(WorkerHeartbeat)).all()
    assert {(b.worker_id, b.job) for b in beats} == {(WORKER_ID, j) for j in mine}
    assert all(b.last_success_at is not None and b.last_error is None for b in beats)


def test_worker_health_reports_last_ticks_and_backlog(app, patients, clock):
    now = clock.now
    run_job(app, WORKER_ID, "dispatch", lambda: None)
    run_job(app, "worker-other", "dispatch", lambda: None)
    add_prompt(patients.patient_a, now - timedelta(minutes=5))  # backlog
    add_prompt(patients.patient_a, now - timedelta(minutes=1))  # due, not late yet
    add_prompt(patients.patient_a, now - timedelta(minutes=5), undeliverable_at=now)  # given up
    add_prompt(patients.patient_a, now - timedelta(minutes=5), next_attempt_at=now + timedelta(minutes=1))
    add_prompt(patients.patient_a, now - timedelta(hours=13), expires_at=now - timedelta(minutes=1))

    health = worker_health(now + timedelta(seconds=1))

    assert health["backlog"] == 1
    dispatch = health["jobs"]["dispatch"]
    assert dispatch["last_success_at"] is not None and dispatch["seconds_since_success"] < 30
    assert {w["worker_id"] for w in health["workers"]} == {WORKER_ID, "worker-other"}


def test_settings_from_env():
    settings = settings_from_env(
        {
            "WORKER_ID": "w-1",
            "WORKER_DISPATCH_INTERVAL_SECONDS": "0.2",
            "WORKER_BATCH_SIZE": "1000",
            "WORKER_LEASE_SECONDS": "3",
            "WORKER_MAX_ATTEMPTS": "7",
        }
    )
    assert (settings.worker_id, settings.dispatch_interval, settings.batch_size) == ("w-1", 0.2, 1000)
    assert (settings.lease_seconds, settings.max_attempts, settings.reminder_interval) == (3.0, 7, 10.0)
    assert settings_from_env({}, pid=42).worker_id.endswith("-42")
    with pytest.raises(ValueError):
        settings_from_env({"WORKER_BATCH_SIZE": "0"})


def test_drain_runs_batches_while_they_come_full_and_sums_them(settings, caplog):
    small = replace(settings, batch_size=2, run_budget_seconds=60)
    sizes = iter([2, 2, 1, 2])
    batches = []

    def batch():
        batches.append(DispatchStats(claimed=next(sizes), sent=1))
        return batches[-1]

    with caplog.at_level(logging.INFO, logger="test.drain"):
        total = drain(batch, DispatchStats(), small, None, logging.getLogger("test.drain"), "drained")
    assert len(batches) == 3  # stopped at the first partial batch
    assert (total.claimed, total.sent) == (5, 3)
    [record] = [r for r in caplog.records if r.name == "test.drain"]
    assert record.message == "drained" and record.claimed == 5


def test_drain_stops_when_asked_or_out_of_budget(settings):
    small = replace(settings, batch_size=1, run_budget_seconds=60)
    stopping = Event()
    calls = []

    def full_batch():
        calls.append(1)
        if len(calls) == 2:
            stopping.set()
        return DispatchStats(claimed=1)

    drain(full_batch, DispatchStats(), small, stopping, logging.getLogger("test.drain"), "drained")
    assert len(calls) == 2
    calls.clear()
    no_budget = replace(small, run_budget_seconds=0)
    drain(full_batch, DispatchStats(), no_budget, None, logging.getLogger("test.drain"), "drained")
    assert len(calls) == 1
