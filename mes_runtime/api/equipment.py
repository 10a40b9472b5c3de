"""``/api/v1/equipment``: import MTP manifests (plug and play), list modules, fetch a manifest.

The manifest (``.aml`` or zipped ``.mtp``) is parsed by ``mes_runtime.mtp.manifest`` and
stored verbatim with its digest, so what was imported can always be shown and re-checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from mes_runtime.api.bodies import read_upload
from mes_runtime.api.deps import JournalDep, SessionDep, require
from mes_runtime.api.errors import conflict, not_found, unprocessable, unprocessable_many
from mes_runtime.api.schemas import Name
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import Equipment, User
from mes_runtime.mtp.errors import ManifestError
from mes_runtime.services import equipment
from mes_runtime.services.equipment import EquipmentExists, EquipmentNotFound
from mtp_manifest import ManifestIssue, ParameterManifest

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/equipment", tags=["equipment"])

Reader = Annotated[User, require(Permission.EQUIPMENT_READ)]
Importer = Annotated[User, require(Permission.EQUIPMENT_IMPORT)]


class EquipmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    endpoint: str
    manifest_digest: str
    imported_by: str
    imported_at: datetime
    connected: bool = Field(
        default=False,
        description="Whether the replica that answered has a live OPC UA session to it now "
        "and every node its manifest declares exists and reads good.",
    )
    connection_problem: str = Field(
        default="",
        description="Why it is not connected (unreachable, or each missing node by name).",
    )


class ManifestIssueOut(BaseModel):
    """A part of the manifest the reader could not interpret, located in the file."""

    severity: str = Field(description="'error' (nothing imported) or 'warning' (module usable)")
    path: str = Field(description="element path, e.g. ModuleTypePackage/HC30/Services/Stirring")
    element_id: str = Field(description="the element's CAEX ID, when it has one")
    problem: str


class ParameterOut(BaseModel):
    name: str
    unit: str = Field(description="unit name (2658 unit codes are mapped); '' when live")
    minimum: float | None = Field(description="None when the module publishes VMin live")
    maximum: float | None = Field(description="None when the module publishes VMax live")
    live: list[str] = Field(description="which of VMin, VMax, VUnit are read from the module")


class ProcedureOut(BaseModel):
    name: str
    procedure_id: int
    self_completing: bool = Field(
        description="False: the procedure runs until it is sent Complete (continuous)"
    )
    parameters: list[ParameterOut]


class ServiceOut(BaseModel):
    name: str
    procedures: list[ProcedureOut]
    configuration_parameters: list[ParameterOut]


class ProcessValueOut(BaseModel):
    name: str
    unit: str
    live_unit: bool


class EquipmentDetail(EquipmentOut):
    services: dict[str, list[str]]
    process_values: dict[str, str]
    manifest_version: str = Field(description="the manifest version the file declares")
    service_details: list[ServiceOut]
    process_value_details: list[ProcessValueOut]
    warnings: list[ManifestIssueOut] = Field(
        description="what the reader could not interpret and left out; the module is usable"
    )


_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _issue(issue: ManifestIssue) -> ManifestIssueOut:
    return ManifestIssueOut(
        severity=issue.severity,
        path=issue.path,
        element_id=issue.element_id,
        problem=issue.problem,
    )


def _parameter(parameter: ParameterManifest) -> ParameterOut:
    return ParameterOut(
        name=parameter.name,
        unit=parameter.unit,
        minimum=parameter.minimum,
        maximum=parameter.maximum,
        live=[v for v in ("VMin", "VMax", "VUnit") if v in parameter.nodes],
    )


def _detail(row: Equipment) -> EquipmentDetail:
    from mes_runtime.mtp.manifest import load_manifest

    manifest = load_manifest(row.manifest)
    return EquipmentDetail(
        **EquipmentOut.model_validate(row).model_dump(),
        services={name: sorted(s.procedures) for name, s in manifest.services.items()},
        process_values={name: pv.unit for name, pv in manifest.process_values.items()},
        manifest_version=manifest.version,
        service_details=[
            ServiceOut(
                name=service.name,
                procedures=[
                    ProcedureOut(
                        name=p.name,
                        procedure_id=p.procedure_id,
                        self_completing=p.self_completing,
                        parameters=[_parameter(x) for x in p.parameters.values()],
                    )
                    for p in service.procedures.values()
                ],
                configuration_parameters=[_parameter(x) for x in service.configuration.values()],
            )
            for service in manifest.services.values()
        ],
        process_value_details=[
            ProcessValueOut(name=pv.name, unit=pv.unit, live_unit=pv.unit_node is not None)
            for pv in manifest.process_values.values()
        ],
        warnings=[_issue(i) for i in manifest.issues],
    )


def _rejected(exc: ManifestError) -> HTTPException:
    """422 listing every located error of the manifest (the first alone if it had no list)."""
    errors = [i for i in exc.issues if isinstance(i, ManifestIssue) and i.severity == "error"]
    if not errors:
        errors = [ManifestIssue("error", exc.path, exc.problem, exc.element_id)]
    return unprocessable_many(
        [
            {
                "loc": ["body", issue.path or "manifest"],
                "msg": issue.problem,
                "type": "manifest",
                "ctx": {"element_id": issue.element_id},
            }
            for issue in errors
        ]
    )


@router.post(
    "",
    response_model=EquipmentDetail,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_OPENAPI_BODY,
    responses={409: {"description": "already imported (pass replace=true)"}},
)
async def import_manifest(
    request: Request,
    user: Importer,
    journal: JournalDep,
    replace: Annotated[bool, Query(description="replace an existing module's manifest")] = False,
    monitoring_only: Annotated[
        bool,
        Query(description="accept a module without services (its process values are monitored)"),
    ] = False,
) -> EquipmentDetail:
    from mes_runtime.mtp.manifest import load_manifest

    data = await read_upload(request)
    try:
        manifest = load_manifest(data)
    except ManifestError as exc:
        raise _rejected(exc) from None
    if not manifest.services and not monitoring_only:
        raise unprocessable(
            ("body", next((i.path for i in manifest.issues), manifest.name)),
            f"module {manifest.name!r} declares no services; import it with "
            "?monitoring_only=true if it is only monitored",
            "manifest",
        )
    try:
        row = await equipment.import_manifest(
            journal, manifest, data, actor=user.username, replace=replace
        )
    except EquipmentExists as exc:
        raise conflict(("body", "name"), str(exc)) from None
    # Supervise the module from now on (a replaced manifest takes effect on restart).
    request.app.state.equipment_registry.add(manifest)
    return _detail(row)


@router.get("", response_model=list[EquipmentOut])
async def list_equipment(request: Request, _: Reader, session: SessionDep) -> list[EquipmentOut]:
    rows = await equipment.list_equipment(session)
    registry = request.app.state.equipment_registry
    return [
        EquipmentOut.model_validate(r).model_copy(
            update={
                "connected": registry.is_connected(r.name),
                "connection_problem": registry.connection_problem(r.name),
            }
        )
        for r in rows
    ]


async def _get(session: SessionDep, name: str) -> Equipment:
    try:
        return await equipment.get_equipment(session, name)
    except EquipmentNotFound as exc:
        raise not_found(("path", "name"), str(exc)) from None


@router.get("/{name}", response_model=EquipmentDetail)
async def get_equipment(name: Name, _: Reader, session: SessionDep) -> EquipmentDetail:
    return _detail(await _get(session, name))


@router.get("/{name}/manifest", response_class=Response)
async def get_manifest(name: Name, _: Reader, session: SessionDep) -> Response:
    row = await _get(session, name)
    is_zip = row.manifest[:2] == b"PK"
    return Response(
        content=row.manifest,
        media_type="application/zip" if is_zip else "application/xml",
        headers={"X-Manifest-Digest": row.manifest_digest},
    )
