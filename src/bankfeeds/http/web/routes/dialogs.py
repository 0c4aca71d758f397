"""The Create/Edit connector dialog: form, validation beside fields, schedule preview, key trust."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from bankfeeds.connectors import service as connectors
from bankfeeds.connectors.model import DEFAULT_SCHEDULE, ConnectorType, Provider
from bankfeeds.connectors.patterns import DEFAULT_PATTERNS
from bankfeeds.core.errors import ValidationFailed
from bankfeeds.http.deps import Ctx
from bankfeeds.http.web import forms
from bankfeeds.http.web.errors import toast
from bankfeeds.http.web.schedule_preview import PRESETS, preview, zones
from bankfeeds.http.web.security import Admin, Operator, Viewer
from bankfeeds.http.web.templating import render
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.pipeline import handoff, operations
from bankfeeds.storage.context import AppContext

router = APIRouter(prefix="/ui")


def _dialog(
    request: Request,
    ctx: AppContext,
    values: dict[str, Any],
    connector_id: str | None,
    **extra: Any,
) -> Response:
    schedule = values.get("schedule") or DEFAULT_SCHEDULE
    tz = values.get("timezone") or ctx.settings.scheduler_timezone
    return render(
        request,
        extra.pop("template", "_connector_dialog.html"),
        values=values,
        connector_id=connector_id,
        providers=[p.value for p in Provider],
        types=[t.value for t in ConnectorType],
        patterns=DEFAULT_PATTERNS,
        presets=PRESETS,
        zones=zones(),
        schedule_preview=preview(schedule, tz, ctx.clock()),
        fields=forms.SHOWN,
        slot=forms.slot,
        **extra,
    )


def _invalid(request: Request, exc: ValidationFailed) -> Response:
    """422 with the error texts only, so nothing typed in the dialog is replaced or lost."""
    beside, summary = forms.errors_by_field(exc.errors)
    return render(
        request,
        "_form_errors.html",
        status=422,
        beside=beside,
        summary=summary,
        fields=forms.SHOWN,
        slot=forms.slot,
    )


@router.get("/connectors/new")
async def new(request: Request, ctx: Ctx, _: Admin) -> Response:
    """An empty Create dialog."""
    values = {
        "type": "SFTP",
        "provider": "AXIS",
        "port": 22,
        "filePattern": DEFAULT_PATTERNS["AXIS"],
    }
    values |= {"remotePath": "/upload", "checksumExt": ".sha256", "authMethod": "password"}
    values |= {"schedule": DEFAULT_SCHEDULE, "timezone": ctx.settings.scheduler_timezone}
    values |= {"targetCycleRule": "yesterday", "hostKeyPolicy": "accept-new", "stored": {}}
    return _dialog(request, ctx, values, None)


@router.get("/connectors/{connector_id}/edit")
async def edit(connector_id: str, request: Request, ctx: Ctx, _: Admin) -> Response:
    """The Edit dialog, filled in; secrets are never sent, only whether one is stored."""
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    return _dialog(request, ctx, forms.form_values(view), connector_id)


@router.post("/connectors")
async def create(request: Request, ctx: Ctx, who: Admin) -> Response:
    """Create; on success the dialog turns into the new connector's Edit dialog."""
    try:
        body = forms.create_body(await request.form())
        view, _ = await handoff.create_connector(
            ctx=ctx, body=body, actor=who.principal.name, idempotency_key=None
        )
    except ValidationFailed as exc:
        return _invalid(request, exc)
    response = _dialog(
        request,
        ctx,
        forms.form_values(view),
        view["id"],
        template="_connector_form.html",
        created=True,
    )
    response.headers["HX-Retarget"] = "#connector-form"
    response.headers["HX-Reswap"] = "outerHTML"
    response.headers["HX-Trigger"] = toast(
        f"Created {view['name']} ({view['id']}).", events={"connectors-changed": True}
    )
    return response


@router.post("/connectors/{connector_id}")
async def update(connector_id: str, request: Request, ctx: Ctx, who: Admin) -> Response:
    """Save an edit; closes the dialog and refreshes the card."""
    current = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    try:
        body = forms.patch_body(await request.form(), current["type"])
        view = await handoff.update_connector(
            ctx=ctx, connector_id=connector_id, body=body, actor=who.principal.name
        )
    except ValidationFailed as exc:
        return _invalid(request, exc)
    trigger = toast(
        f"Saved {view['name']}.",
        events={"close-dialog": True, "refresh-card": {"id": connector_id}},
    )
    return Response(status_code=204, headers={"HX-Trigger": trigger})


@router.get("/schedule-preview")
async def schedule_preview(
    request: Request,
    ctx: Ctx,
    _: Viewer,
    schedule: Annotated[str, Query(max_length=120)] = "",
    timezone: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The schedule in words and its next five runs in the chosen zone."""
    result = preview(schedule, timezone, ctx.clock())
    return render(request, "_schedule_preview.html", schedule_preview=result)


@router.post("/connectors/{connector_id}/check")
async def check(connector_id: str, request: Request, ctx: Ctx, _: Operator) -> Response:
    """Test the saved settings from inside the dialog; shows the server's key fingerprint."""
    result = await operations.test_connection(ctx=ctx, connector_id=connector_id)
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    return render(
        request, "_test_result.html", result=result, connector=view, connector_id=connector_id
    )


@router.post("/connectors/{connector_id}/trust")
async def trust(
    connector_id: str,
    request: Request,
    ctx: Ctx,
    who: Admin,
    fingerprint: Annotated[str, Form(max_length=128)],
) -> Response:
    """Pin the fingerprint the test showed (audited)."""
    view = await connectors.trust_host_key(
        ctx=ctx,
        connector_id=connector_id,
        fingerprint=fingerprint.strip(),
        actor=who.principal.name,
    )
    response = render(request, "_trusted.html", connector=view)
    response.headers["HX-Trigger"] = toast(f"Trusted {view['hostKeyFingerprint']}.")
    return response
