"""/console sign-in and sign-out (clinicians and admins; patients use the app)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api.auth.passwords import verify_password
from api.console.session import (
    EXPIRED,
    IDLE,
    STAFF_ROLES,
    home_for,
    login_required,
    session_user,
    sign_in,
    sign_out,
)
from api.extensions import db, limiter
from api.models import User
from api.services.accounts import normalise_email
from api.services.audit import audit

bp = Blueprint("auth", __name__)

WRONG_CREDENTIALS = "Wrong email or password."
PATIENT_REFUSED = (
    "This console is for care teams and administrators. Patients sign in with the Integration Companion "
    "app on their phone."
)
REASONS = {
    IDLE: "You were signed out after {minutes} minutes without activity. Sign in again to continue.",
    EXPIRED: "Your session reached its maximum length. Sign in again to continue.",
    "signed_out": "You have signed out.",
}


def _account_key() -> str:
    email = request.form.get("email")
    return f"console-login-account:{normalise_email(email) if email else '-'}"


def _next_url() -> str | None:
    target = request.values.get("next") or ""
    return target if target.startswith("/console/") and not target.startswith("//") else None


@bp.route("/")
def index() -> Response:
    user, _ = session_user()
    return redirect(home_for(user) if user else url_for("console.auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"])
def login() -> Response | tuple[str, int] | str:
    if request.method == "GET":
        user, _ = session_user()
        if user is not None:
            return redirect(home_for(user))
        reason = REASONS.get(request.args.get("reason", ""), "")
        notice = reason.format(minutes=current_app.config["CONSOLE_IDLE_MINUTES"]) if reason else None
        return render_template("console/login.html", notice=notice, next=_next_url())

    email = normalise_email(request.form.get("email", ""))
    password = request.form.get("password", "")
    user = db.session.query(User).filter_by(email=email).one_or_none() if email else None
    # The password is checked first so that the patient message reveals nothing to a guesser.
    if not verify_password(user.password_hash if user else None, password) or not user.is_active:
        return render_template(
            "console/login.html", error=WRONG_CREDENTIALS, email=email, next=_next_url()
        ), 401
    if user.role not in STAFF_ROLES:
        return render_template(
            "console/login.html", error=PATIENT_REFUSED, email=email, next=_next_url()
        ), 403
    sign_in(user)
    g.user = user
    audit("sign_in", "console_session", user.id)
    db.session.commit()
    return redirect(_next_url() or home_for(user))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    user, _ = session_user()
    if user is not None:
        g.user = user
        audit("sign_out", "console_session", user.id)
        db.session.commit()
    sign_out()
    return redirect(url_for("console.auth.login", reason="signed_out"))


@bp.route("/session/keepalive", methods=["POST"])
@login_required(*STAFF_ROLES)
def keepalive() -> Response:
    """'Stay signed in' from the inactivity warning: an explicit user action, so it counts."""
    return jsonify({"idle_seconds": current_app.config["CONSOLE_IDLE_MINUTES"] * 60})
