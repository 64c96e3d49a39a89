"""Accounts, care teams, enrolment and invites."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask_smorest import abort
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api.auth.passwords import hash_password
from api.auth.tokens import token_digest
from api.extensions import db
from api.models import CareTeam, CareTeamMember, Invite, PatientProfile, RefreshToken, User
from api.models.types import utcnow
from api.services.audit import audit
from api.services.planning import replan_patient

# Unambiguous characters only: invite codes are read out or typed from a letter.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def new_invite_code() -> str:
    raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def invite_digest(code: str) -> str:
    return token_digest(code.replace("-", "").replace(" ", "").upper())


def _add_user(email: str, display_name: str, role: str, password: str | None) -> User:
    user = User(
        email=normalise_email(email),
        display_name=display_name,
        role=role,
        password_hash=hash_password(password) if password else None,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        abort(
            409,
            message="An account with this email already exists.",
            errors={"json": {"email": ["Already registered."]}},
        )
    return user


def create_staff_user(email: str, display_name: str, role: str, password: str) -> User:
    user = _add_user(email, display_name, role, password)
    audit("create", "user", user.id, detail=f"role={role}")
    db.session.commit()
    return user


def create_care_team(name: str, contact_phone: str | None) -> CareTeam:
    team = CareTeam(name=name, contact_phone=contact_phone)
    db.session.add(team)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        abort(409, message="A care team with this name exists.", errors={"json": {"name": ["Already used."]}})
    audit("create", "care_team", team.id)
    db.session.commit()
    return team


def get_care_team(team_id: int) -> CareTeam:
    return db.get_or_404(CareTeam, team_id, description="No such care team.")


def _assign_clinicians(team: CareTeam, clinician_ids: list[int]) -> None:
    clinicians = db.session.scalars(select(User).where(User.id.in_(clinician_ids))).all()
    found = {u.id for u in clinicians if u.role == "clinician"}
    missing = [i for i in clinician_ids if i not in found]
    if missing:
        abort(422, errors={"json": {"clinician_ids": [f"Not clinician accounts: {missing}"]}})
    team.members = [m for m in team.members if m.user_id in found]
    present = {m.user_id for m in team.members}
    team.members += [CareTeamMember(user_id=i) for i in found - present]


def team_ids_of(user: User) -> list[int]:
    return [link.team_id for link in user.team_links]


def enrol_patient(
    clinician: User, email: str, display_name: str, timezone: str, care_team_id: int | None
) -> tuple[User, str, Invite]:
    teams = team_ids_of(clinician)
    if care_team_id is None:
        if len(teams) != 1:
            abort(
                422,
                errors={
                    "json": {
                        "care_team_id": [
                            "Required: you belong to several care teams."
                            if teams
                            else "You belong to no care team."
                        ]
                    }
                },
            )
        care_team_id = teams[0]
    elif care_team_id not in teams:
        abort(422, errors={"json": {"care_team_id": ["You are not a member of this care team."]}})
    user = _add_user(email, display_name, "patient", None)
    db.session.add(
        PatientProfile(
            user_id=user.id, care_team_id=care_team_id, timezone=timezone, enrolled_by_id=clinician.id
        )
    )
    code, invite = _issue_invite(user)
    audit("enrol", "patient", user.id, patient_id=user.id)
    db.session.commit()
    return user, code, invite


def _issue_invite(user: User) -> tuple[str, Invite]:
    code = new_invite_code()
    invite = Invite(
        user_id=user.id,
        code_hash=invite_digest(code),
        expires_at=utcnow() + timedelta(days=current_app.config["INVITE_DAYS"]),
    )
    db.session.add(invite)
    return code, invite


def reissue_invite(patient: User) -> tuple[str, Invite]:
    """A new code for a patient who lost theirs; earlier unused codes stop working."""
    now = utcnow()
    for old in db.session.scalars(
        select(Invite).where(Invite.user_id == patient.id, Invite.used_at.is_(None))
    ):
        old.used_at = now
    code, invite = _issue_invite(patient)
    audit("reissue_invite", "patient", patient.id, patient_id=patient.id)
    db.session.commit()
    return code, invite


def accept_invite(code: str, password: str) -> User:
    now = utcnow()
    invite = db.session.execute(
        select(Invite).where(Invite.code_hash == invite_digest(code)).with_for_update()
    ).scalar_one_or_none()
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        # One message for unknown, used and expired codes: nothing to learn by guessing.
        abort(
            400,
            message="This invite code is invalid, used or expired. Ask your care team for a new one.",
            code="invalid_invite",
        )
    invite.used_at = now
    user = db.session.get(User, invite.user_id)
    user.password_hash = hash_password(password)
    user.patient.activated_at = now
    audit("accept_invite", "patient", user.id, patient_id=user.id)
    return user


def patients_visible_to(clinician: User) -> list[PatientProfile]:
    return list(
        db.session.scalars(
            select(PatientProfile)
            .where(PatientProfile.care_team_id.in_(team_ids_of(clinician)))
            .order_by(PatientProfile.user_id)
        )
    )


def patient_for_clinician(clinician: User, patient_id: int) -> PatientProfile:
    """The patient, if in one of the clinician's teams; otherwise 404, as if it did not exist."""
    profile = db.session.get(PatientProfile, patient_id)
    if profile is None or profile.care_team_id not in team_ids_of(clinician):
        abort(404, message="No such patient.")
    return profile


def update_profile(user: User, changes: dict) -> User:
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "timezone" in changes:
        if user.patient is None:
            abort(422, errors={"json": {"timezone": ["Only patients have a time zone."]}})
        if user.patient.timezone != changes["timezone"]:
            user.patient.timezone = changes["timezone"]
            replan_patient(user.id, "timezone")  # unsent prompts move to the new local times
    if user.patient is not None:
        audit("update", "profile", user.id, patient_id=user.id, detail=",".join(sorted(changes)))
    db.session.commit()
    return user


def _set_duty(team: CareTeam, changes: dict) -> None:
    members = {m.user_id for m in team.members}
    if "on_duty_ids" in changes:
        outside = sorted(set(changes["on_duty_ids"]) - members)
        if outside:
            abort(422, errors={"json": {"on_duty_ids": [f"Not members of this team: {outside}"]}})
        for member in team.members:
            member.on_duty = member.user_id in changes["on_duty_ids"]
    backup = changes.get("backup_clinician_id")
    if backup is not None and backup not in members:
        abort(422, errors={"json": {"backup_clinician_id": ["Not a member of this team."]}})


def update_care_team(team: CareTeam, changes: dict) -> CareTeam:
    if "clinician_ids" in changes:
        _assign_clinicians(team, changes["clinician_ids"])
    _set_duty(team, changes)
    for field in ("name", "contact_phone", "backup_clinician_id", "webhook_url", "webhook_secret"):
        if field in changes:
            setattr(team, field, changes[field])
    audit("update", "care_team", team.id, detail=",".join(sorted(changes)) or None)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        abort(409, message="A care team with this name exists.", errors={"json": {"name": ["Already used."]}})
    return team


def update_user(user: User, changes: dict) -> User:
    for field in ("is_active", "display_name"):
        if field in changes:
            setattr(user, field, changes[field])
    if changes.get("is_active") is False:
        # A deactivated account loses its sessions at once, not when its refresh tokens expire.
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    audit(
        "update",
        "user",
        user.id,
        patient_id=user.id if user.role == "patient" else None,
        detail=",".join(sorted(changes)) or None,
    )
    db.session.commit()
    return user
