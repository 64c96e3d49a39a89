"""While an urgent alert is open, the patient's routine prompts are paused (configurable)."""

from datetime import timedelta

from api.domain.flags import Flag
from api.extensions import db
from api.models import PatientProfile
from api.models.types import utcnow
from api.services.alerts import raise_alert
from tests.worker.conftest import add_prompt
from worker.dispatch import due_prompts_query


def due_ids(now):
    return set(db.session.scalars(due_prompts_query(now, 100)))


def urgent_alert(patient):
    alert = raise_alert(
        db.session.get(PatientProfile, patient.id), Flag("phq9_item9", "urgent", "q9=2", {}), None, None
    )
    db.session.commit()
    return alert


def test_open_urgent_alert_pauses_routine_prompts_until_resolved(app, patients):
    now = utcnow()
    mine = add_prompt(patients.patient_a, now - timedelta(minutes=1))
    other = add_prompt(patients.patient_b, now - timedelta(minutes=1))
    alert = urgent_alert(patients.patient_a)
    assert due_ids(now) == {other.id}
    alert.state = "resolved"
    db.session.commit()
    assert due_ids(now) == {mine.id, other.id}


def test_a_high_alert_does_not_pause(app, patients):
    now = utcnow()
    mine = add_prompt(patients.patient_a, now - timedelta(minutes=1))
    raise_alert(
        db.session.get(PatientProfile, patients.patient_a.id),
        Flag("crisis_language", "high", "x", {}),
        None,
        None,
    )
    db.session.commit()
    assert due_ids(now) == {mine.id}


def test_pausing_can_be_switched_off(app, patients):
    app.config["PAUSE_PROMPTS_ON_URGENT"] = False
    now = utcnow()
    mine = add_prompt(patients.patient_a, now - timedelta(minutes=1))
    urgent_alert(patients.patient_a)
    assert due_ids(now) == {mine.id}
