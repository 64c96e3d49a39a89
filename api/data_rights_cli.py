"""`flask --app api export-research`: the de-identified research export (api.services.research_export)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app

from api.extensions import db
from api.models import CareTeam
from api.services.research_export import ExportKeyError, export_research


def register_data_rights_cli(app: Flask) -> None:
    @app.cli.command("export-research")
    @click.option(
        "--out",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the CSV files (created if missing; files in it are overwritten).",
    )
    @click.option("--team", "team_id", type=int, help="Only the patients of this care team.")
    @click.option(
        "--since",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Only rows at or after this UTC date (YYYY-MM-DD).",
    )
    @click.option(
        "--include-reflections",
        is_flag=True,
        help="Also write reflections.csv with FREE TEXT (reflections, tags, check-in notes).",
    )
    @click.option(
        "--key",
        help="Pseudonymisation key (default: RESEARCH_EXPORT_KEY; prefer the variable, a command-line "
        "argument shows in the process list and shell history). The same key gives the same pseudonyms.",
    )
    def export_research_command(
        out_dir: Path, team_id: int | None, since: datetime | None, include_reflections: bool, key: str | None
    ) -> None:
        """Write a de-identified research export: patients, checkins, prompts, alerts, dosing_sessions
        and data_dictionary CSV files (see docs/data-rights.md)."""
        key = key or current_app.config.get("RESEARCH_EXPORT_KEY") or ""
        if not key:
            raise click.UsageError("set RESEARCH_EXPORT_KEY or pass --key")
        if team_id is not None and db.session.get(CareTeam, team_id) is None:
            raise click.BadParameter(f"no care team {team_id}", param_hint="--team")
        if include_reflections:
            click.echo("warning: reflections.csv contains free text written by patients", err=True)
        try:
            counts = export_research(
                out_dir,
                key,
                team_id=team_id,
                since=since.replace(tzinfo=UTC) if since else None,
                include_reflections=include_reflections,
                progress=True,
            )
        except ExportKeyError as exc:
            raise click.BadParameter(str(exc), param_hint="--key / RESEARCH_EXPORT_KEY") from exc
        for name, rows in counts.items():
            click.echo(f"{out_dir / name}: {rows} rows")
