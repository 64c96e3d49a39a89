"""Check-ins: server-side scoring, validation, idempotency, batch sync, pagination, access and audit."""

import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

from api.extensions import db
from api.models import AuditLog, CheckIn, IdempotencyRecord
from api.models.types import utcnow
from tests.api.entries_helpers import DAILY_ANSWERS, checkin, post

URL = "/api/v1/me/checkins"


def count():
    return db.session.scalar(select(func.count()).select_from(CheckIn))


def test_phq9_is_scored_on_the_server(client, world):
    body = checkin(answers={f"q{i}": 2 for i in range(1, 10)} | {"q9": 0}, total=0)
    body.pop("total")
    r = post(client, world.headers(world.patient_a), URL, body)
    assert r.status_code == 201, r.json
    assert (r.json["total"], r.json["band"]) == (16, "moderately_severe")
    assert r.json["score"]["risk"] == {"q9": 0}
    row = db.session.get(CheckIn, r.json["id"])
    assert (row.total, row.band, row.patient_id) == (16, "moderately_severe", world.patient_a.id)
    assert row.received_at >= row.recorded_at


def test_client_supplied_score_is_rejected_not_trusted(client, world):
    r = post(client, world.headers(world.patient_a), URL, checkin(total=0))
    assert r.status_code == 422 and r.json["errors"]["json"] == {"total": ["Unknown field."]}


def test_item_validation_reports_every_field(client, world):
    answers = {f"q{i}": 1 for i in range(1, 9)} | {"q1": 4, "q10": 1, "q2": "1"}
    r = post(client, world.headers(world.patient_a), URL, checkin(answers=answers))
    assert r.status_code == 422
    fields = r.json["errors"]["json"]["answers"]
    assert set(fields) == {"q1", "q2", "q9", "q10"}
    assert fields["q9"] == ["Missing answer."] and fields["q10"] == ["Unknown item."]
    assert count() == 0


def test_wrong_version_and_unknown_instrument(client, world):
    h = world.headers(world.patient_a)
    r = post(client, h, URL, checkin(instrument_version="9.9"))
    assert r.status_code == 422 and "instrument_version" in r.json["errors"]["json"]
    r = post(client, h, URL, checkin(instrument_id="bdi"))
    assert r.status_code == 422 and "instrument_id" in r.json["errors"]["json"]


def test_cssrs_is_disabled_until_an_admin_enables_it(client, world):
    answers = {"q1": 0, "q2": 0, "q6": 0}
    h = world.headers(world.patient_a)
    assert post(client, h, URL, checkin("cssrs_screener", answers)).status_code == 422
    assert "cssrs_screener" not in [i["id"] for i in client.get("/api/v1/instruments", headers=h).json]
    r = client.patch(
        "/api/v1/admin/instruments/cssrs_screener", json={"enabled": True}, headers=world.headers(world.admin)
    )
    assert r.status_code == 200
    assert post(client, h, URL, checkin("cssrs_screener", answers)).status_code == 201
    assert client.get("/api/v1/instruments/cssrs_screener", headers=h).status_code == 200


def test_recorded_at_in_the_future_or_before_enrolment_is_rejected(client, world):
    h = world.headers(world.patient_a)
    future = post(client, h, URL, checkin(recorded_at=utcnow() + timedelta(minutes=10)))
    assert future.status_code == 422 and "recorded_at" in future.json["errors"]["json"]
    skew = post(client, h, URL, checkin(recorded_at=utcnow() + timedelta(minutes=2)))
    assert skew.status_code == 201
    before = post(client, h, URL, checkin(recorded_at=utcnow() - timedelta(days=30)))
    assert before.status_code == 422


def test_offline_entry_days_old_is_accepted(client, world):
    world.patient_a.patient.enrolled_at = utcnow() - timedelta(days=20)
    db.session.commit()
    r = post(client, world.headers(world.patient_a), URL, checkin(recorded_at=utcnow() - timedelta(days=3)))
    assert r.status_code == 201


def test_idempotency_key_is_required(client, world):
    r = client.post(URL, json=checkin(), headers=world.headers(world.patient_a))
    assert r.status_code == 422 and "Idempotency-Key" in r.json["errors"]["headers"]


def test_same_key_same_body_replays_the_original_response(client, world):
    h, body, key = world.headers(world.patient_a), checkin(), str(uuid.uuid4())
    first = post(client, h, URL, body, key)
    again = post(client, h, URL, body, key)
    assert first.status_code == again.status_code == 201
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    assert count() == 1


def test_same_key_different_body_is_422(client, world):
    h, key = world.headers(world.patient_a), str(uuid.uuid4())
    assert post(client, h, URL, checkin(), key).status_code == 201
    r = post(client, h, URL, checkin(answers={f"q{i}": 0 for i in range(1, 10)}), key)
    assert r.status_code == 422 and r.json["code"] == "idempotency_key_reused"
    assert count() == 1


def test_keys_are_scoped_per_user(client, world):
    key = str(uuid.uuid4())
    assert post(client, world.headers(world.patient_a), URL, checkin(), key).status_code == 201
    assert post(client, world.headers(world.patient_b), URL, checkin(), key).status_code == 201
    assert count() == 2


def test_client_uuid_is_a_second_guard(client, world):
    h, body = world.headers(world.patient_a), checkin()
    assert post(client, h, URL, body).status_code == 201
    again = post(client, h, URL, body)  # new key, same entry
    assert again.status_code == 200 and count() == 1


def test_idempotency_records_are_kept(client, world):
    post(client, world.headers(world.patient_a), URL, checkin(), "key-to-keep-1")
    record = db.session.scalar(select(IdempotencyRecord))
    assert record.key == "key-to-keep-1" and record.status_code == 201


def test_note_is_encrypted_at_rest(client, world):
    note = "Felt tender about my father today"
    r = post(client, world.headers(world.patient_a), URL, checkin("daily", DAILY_ANSWERS | {"note": note}))
    assert r.status_code == 201 and r.json["answers"]["note"] == note
    raw = db.session.execute(text("SELECT answers, note_ciphertext FROM checkins")).one()
    assert "father" not in str(raw.answers) and b"father" not in bytes(raw.note_ciphertext)


def test_batch_sync_with_mixed_entries(client, world):
    h = world.headers(world.patient_a)
    stored = checkin()
    assert post(client, h, URL, stored).status_code == 201
    batch = {
        "checkins": [
            checkin(),
            checkin(answers={"q1": 9}),
            stored,
            {"instrument_id": "phq9"},
            checkin("daily", DAILY_ANSWERS),
        ],
        "reflections": [
            {"client_uuid": str(uuid.uuid4()), "text": "ok", "recorded_at": utcnow().isoformat()}
        ],
    }
    r = post(client, h, URL + ":batch", batch, "batch-key-1")
    assert r.status_code == 200
    statuses = [(e["kind"], e["index"], e["status"]) for e in r.json["results"]]
    assert statuses == [
        ("checkin", 0, 201),
        ("checkin", 1, 422),
        ("checkin", 2, 200),
        ("checkin", 3, 422),
        ("checkin", 4, 201),
        ("reflection", 0, 201),
    ]
    assert "answers" in r.json["results"][1]["errors"] and "client_uuid" in r.json["results"][3]["errors"]
    assert count() == 3
    replay = post(client, h, URL + ":batch", batch, "batch-key-1")
    assert replay.json == r.json and count() == 3


def test_batch_over_100_entries_is_rejected(client, world):
    r = post(client, world.headers(world.patient_a), URL + ":batch", {"checkins": [checkin()] * 101})
    assert r.status_code == 422 and count() == 0


def test_cursor_pagination_and_filters(client, world):
    h = world.headers(world.patient_a)
    world.patient_a.patient.enrolled_at = utcnow() - timedelta(days=10)
    db.session.commit()
    for i in range(5):
        post(client, h, URL, checkin(recorded_at=utcnow() - timedelta(hours=i + 1)))
    post(client, h, URL, checkin("daily", DAILY_ANSWERS))
    first = client.get(URL + "?limit=2&instrument_id=phq9", headers=h).json
    second = client.get(URL + f"?limit=2&instrument_id=phq9&cursor={first['next_cursor']}", headers=h).json
    third = client.get(URL + f"?limit=2&instrument_id=phq9&cursor={second['next_cursor']}", headers=h).json
    ids = [c["id"] for c in first["items"] + second["items"] + third["items"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
    times = [c["recorded_at"] for c in first["items"] + second["items"] + third["items"]]
    assert times == sorted(times, reverse=True)
    since = (utcnow() - timedelta(hours=2, minutes=30)).isoformat()
    recent = client.get(URL, query_string={"since": since, "instrument_id": "phq9"}, headers=h).json
    assert len(recent["items"]) == 2
    assert client.get(URL + "?cursor=garbage", headers=h).status_code == 422


def test_trends_series(client, world):
    h = world.headers(world.patient_a)
    post(client, h, URL, checkin("daily", DAILY_ANSWERS | {"mood": 4}))
    post(client, h, URL, checkin())
    r = client.get("/api/v1/me/trends", headers=h)
    assert r.json["series"]["daily.mood"][0]["v"] == 4
    assert r.json["series"]["phq9.total"][0]["v"] == 9 and r.json["series"]["phq9.total"][0]["band"] == "mild"
    assert [b["minimum"] for b in r.json["bands"]["phq9"]["bands"]] == [0, 5, 10, 15, 20]


def test_clinician_reads_own_team_only_and_is_audited(client, world):
    post(client, world.headers(world.patient_a), URL, checkin())
    own = client.get(
        f"/api/v1/care/patients/{world.patient_a.id}/checkins", headers=world.headers(world.clinician_a)
    )
    assert own.status_code == 200 and len(own.json["items"]) == 1
    for path in ("checkins", "trends", "reflections"):
        other = client.get(
            f"/api/v1/care/patients/{world.patient_a.id}/{path}", headers=world.headers(world.clinician_b)
        )
        assert other.status_code == 404, path
    reads = db.session.scalars(
        select(AuditLog).where(AuditLog.patient_id == world.patient_a.id, AuditLog.resource_type == "checkin")
    ).all()
    assert [(a.action, a.resource_type, a.actor_role) for a in reads] == [
        ("create", "checkin", "patient"),
        ("list", "checkin", "clinician"),
    ]


def test_staff_cannot_submit_checkins(client, world):
    assert post(client, world.headers(world.clinician_a), URL, checkin()).status_code == 403


def test_openapi_documents_entries_and_the_idempotency_header(client):
    spec = client.get("/openapi.json").json
    post_op = spec["paths"]["/api/v1/me/checkins"]["post"]
    assert {"in": "header", "name": "Idempotency-Key"}.items() <= post_op["parameters"][0].items()
    for path in (
        "/api/v1/me/checkins:batch",
        "/api/v1/me/reflections",
        "/api/v1/me/trends",
        "/api/v1/me/export",
        "/api/v1/instruments",
        "/api/v1/instruments/{instrument_id}",
        "/api/v1/care/patients/{patient_id}/checkins",
        "/api/v1/care/patients/{patient_id}/trends",
    ):
        assert path in spec["paths"], path
