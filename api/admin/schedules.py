"""/api/v1/admin/schedules: schedule templates. Admins only."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required
from api.models import ScheduleTemplate
from api.services.schedules import (
    create_template,
    delete_template,
    get_template,
    list_templates,
    preview_template,
    update_template,
)
from schemas.schedules import (
    PreviewQuerySchema,
    PreviewSchema,
    ScheduleTemplateCreateSchema,
    ScheduleTemplatePatchSchema,
    ScheduleTemplateSchema,
)

blp = Blueprint(
    "admin_schedules", __name__, url_prefix="/api/v1/admin", description="Administration: schedules"
)


@blp.route("/schedules", methods=["GET"])
@auth_required("admin")
@blp.response(200, ScheduleTemplateSchema(many=True))
def list_schedules() -> list[ScheduleTemplate]:
    return list_templates()


@blp.route("/schedules", methods=["POST"])
@auth_required("admin")
@blp.arguments(ScheduleTemplateCreateSchema)
@blp.response(201, ScheduleTemplateSchema)
def add_schedule(body: dict) -> ScheduleTemplate:
    """Create a template; the rules are validated together (422 with errors per rule and field)."""
    return create_template(body["name"], body["rules"], body["is_default"])


@blp.route("/schedules/<int:template_id>", methods=["GET"])
@auth_required("admin")
@blp.response(200, ScheduleTemplateSchema)
def show_schedule(template_id: int) -> ScheduleTemplate:
    return get_template(template_id)


@blp.route("/schedules/<int:template_id>", methods=["PATCH"])
@auth_required("admin")
@blp.arguments(ScheduleTemplatePatchSchema, required=False)  # all optional: no body, no change
@blp.response(200, ScheduleTemplateSchema)
def patch_schedule(body: dict, template_id: int) -> ScheduleTemplate:
    """Edit; the version goes up and every patient following the template is re-planned."""
    return update_template(get_template(template_id), body)


@blp.route("/schedules/<int:template_id>", methods=["DELETE"])
@auth_required("admin")
@blp.response(204)
def remove_schedule(template_id: int) -> None:
    """409 for the default template and for templates assigned to patients."""
    delete_template(get_template(template_id))


@blp.route("/schedules/<int:template_id>/preview", methods=["GET"])
@auth_required("admin")
@blp.arguments(PreviewQuerySchema, location="query")
@blp.response(200, PreviewSchema)
def preview_schedule(query: dict, template_id: int) -> dict:
    """The timeline for a hypothetical dose, and notifications per local day."""
    return preview_template(
        get_template(template_id),
        query["timezone"],
        query["dosing"],
        query["quiet_start"],
        query["quiet_end"],
        query["last_session"],
    )
