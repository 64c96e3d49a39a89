"""/api/v1/me/prompts: the patient's prompts - what to show now, history, receipts."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.models import Prompt
from api.services.prompts import mark_opened, mark_received, patient_prompts
from schemas.prompts import MePromptsQuerySchema, PatientPromptSchema

blp = Blueprint("me_prompts", __name__, url_prefix="/api/v1/me", description="The patient's prompts")


@blp.route("/prompts", methods=["GET"])
@auth_required("patient")
@blp.arguments(MePromptsQuerySchema, location="query")
@blp.response(200, PatientPromptSchema(many=True))
def list_prompts(query: dict) -> list[Prompt]:
    """Prompts to show now (due, still open, unanswered); `?state=` or `?all=true` for history."""
    return patient_prompts(current_user().id, query.get("state"), query["all"], query["limit"])


@blp.route("/prompts/<int:prompt_id>/received", methods=["POST"])
@auth_required("patient")
@blp.response(200, PatientPromptSchema)
def received(prompt_id: int) -> Prompt:
    """The app received the push: -> delivered. Idempotent."""
    return mark_received(current_user().id, prompt_id)


@blp.route("/prompts/<int:prompt_id>/opened", methods=["POST"])
@auth_required("patient")
@blp.response(200, PatientPromptSchema)
def opened(prompt_id: int) -> Prompt:
    """The patient opened the prompt: -> opened. Idempotent."""
    return mark_opened(current_user().id, prompt_id)
