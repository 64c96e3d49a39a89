"""Per-team flag-rule thresholds: one place for reading and saving them (API and console)."""

from __future__ import annotations

from typing import Any

from api.domain.flags import thresholds_from_dict, thresholds_to_dict, validate_thresholds
from api.extensions import db
from api.models import FlagRuleSetting, User
from api.models.types import utcnow
from api.services.audit import audit


def flag_rules_view(team_id: int) -> dict[str, Any]:
    setting = db.session.get(FlagRuleSetting, team_id)
    overrides = dict(setting.thresholds) if setting else {}
    return {
        "care_team_id": team_id,
        "thresholds": overrides,
        "effective": thresholds_to_dict(thresholds_from_dict(overrides)),
        "updated_at": setting.updated_at if setting else None,
    }


def save_flag_rules(team_id: int, thresholds: dict[str, Any], actor: User) -> dict[str, list[str]]:
    """Validate and store a team's threshold overrides (audited with the names of the changed keys).
    Returns field errors (nothing stored) or {}."""
    errors = validate_thresholds(thresholds)
    if errors:
        return errors
    setting = db.session.get(FlagRuleSetting, team_id) or FlagRuleSetting(care_team_id=team_id)
    before = dict(setting.thresholds or {})
    setting.thresholds, setting.updated_at, setting.updated_by_id = thresholds, utcnow(), actor.id
    db.session.add(setting)
    changed = sorted(k for k in set(before) | set(thresholds) if before.get(k) != thresholds.get(k))
    audit("update", "flag_rules", team_id, detail=f"changed={','.join(changed)}"[:500])
    db.session.commit()
    return {}
