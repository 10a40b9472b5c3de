"""Where a simulated module's variables live in OPC UA, and the manifest that says so.

Two vendor-like layouts prove that clients are driven by manifests only:

* ``"string"``: string identifiers in a CODESYS-like style
  (``ns=2;s=|var|BR101.Application.MTP.Services.Cultivate.StateCur``);
* ``"numeric"``: numeric identifiers (``ns=3;i=7042``) in a namespace registered after a
  vendor type namespace, so neither the index nor the ids can be guessed.

The manifest names namespaces by URI, as real MTPs do; the client resolves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from mes_runtime.mtp.manifest import (
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
)
from mes_runtime.simulator.contract import ModuleSpec

__all__ = [
    "PARAMETER_VARIABLES",
    "SERVICE_VARIABLES",
    "Layout",
    "ModuleAddressSpace",
    "VariableDef",
    "build_address_space",
]


class Layout(StrEnum):
    STRING = "string"
    NUMERIC = "numeric"


# (name, kind, writable) — kind: "u32", "bool", "float".
SERVICE_VARIABLES: tuple[tuple[str, str, bool], ...] = (
    ("TagName", "str", False),
    ("CommandOp", "u32", True),
    ("CommandInt", "u32", True),
    ("CommandExt", "u32", True),
    ("ProcedureOp", "u32", True),
    ("ProcedureInt", "u32", True),
    ("ProcedureExt", "u32", True),
    ("ProcedureReq", "u32", False),
    ("ProcedureCur", "u32", False),
    ("StateCur", "u32", False),
    ("CommandEn", "u32", False),
    ("StateChannel", "bool", False),
    ("StateOffAut", "bool", False),
    ("StateOpAut", "bool", False),
    ("StateAutAut", "bool", False),
    ("StateOffOp", "bool", True),
    ("StateOpOp", "bool", True),
    ("StateAutOp", "bool", True),
    ("StateOpAct", "bool", False),
    ("StateAutAct", "bool", False),
    ("StateOffAct", "bool", False),
    ("SrcChannel", "bool", False),
    ("SrcExtAut", "bool", False),
    ("SrcIntAut", "bool", False),
    ("SrcIntOp", "bool", True),
    ("SrcExtOp", "bool", True),
    ("SrcIntAct", "bool", False),
    ("SrcExtAct", "bool", False),
)
PARAMETER_VARIABLES: tuple[tuple[str, str, bool], ...] = (
    ("VOp", "float", True),
    ("VInt", "float", True),
    ("VExt", "float", True),
    ("VReq", "float", False),
    ("VOut", "float", False),
    ("VFbk", "float", False),
    ("ApplyEn", "bool", False),
    ("ApplyOp", "bool", True),
    ("ApplyInt", "bool", True),
    ("ApplyExt", "bool", True),
    ("Sync", "bool", False),
)
# Variables that exist in the server but are not OPC UA items of the manifest.
_NOT_IN_MANIFEST = frozenset({"TagName"})


@dataclass(frozen=True, slots=True)
class VariableDef:
    """One OPC UA variable: its path below the module object, type and where it lives."""

    path: tuple[str, ...]
    kind: str
    writable: bool
    ref: NodeRef


@dataclass(frozen=True, slots=True)
class ModuleAddressSpace:
    """Every variable of one module plus the namespaces to register (in order)."""

    module: str
    namespaces: tuple[str, ...]
    variables: dict[tuple[str, ...], VariableDef]

    def manifest(self, spec: ModuleSpec, endpoint: str, extra_tags: int = 0) -> ModuleManifest:
        """The MTP manifest describing exactly this address space."""

        def nodes(
            prefix: tuple[str, ...], names: tuple[tuple[str, str, bool], ...]
        ) -> dict[str, NodeRef]:
            return {
                name: self.variables[(*prefix, name)].ref
                for name, _, _ in names
                if name not in _NOT_IN_MANIFEST
            }

        services: dict[str, ServiceManifest] = {}
        for service in spec.services:
            base = ("Services", service.name)
            procedures: dict[str, ProcedureManifest] = {}
            for procedure in service.procedures:
                parameters = {
                    p.name: ParameterManifest(
                        name=p.name,
                        unit=p.unit,
                        minimum=p.minimum,
                        maximum=p.maximum,
                        nodes=nodes((*base, procedure.name, p.name), PARAMETER_VARIABLES),
                    )
                    for p in procedure.parameters
                }
                procedures[procedure.name] = ProcedureManifest(
                    procedure.name, procedure.procedure_id, parameters
                )
            services[service.name] = ServiceManifest(
                service.name, nodes(base, SERVICE_VARIABLES), procedures
            )
        values = {
            pv.name: ProcessValueManifest(
                pv.name, pv.unit, self.variables[("ProcessValues", pv.name, "V")].ref
            )
            for pv in spec.process_values
        }
        for name in extra_tag_names(extra_tags):
            values[name] = ProcessValueManifest(
                name, "1", self.variables[("Indicators", name, "V")].ref
            )
        return ModuleManifest(spec.name, endpoint, services, values)


def extra_tag_names(count: int) -> list[str]:
    return [f"AI{index:05d}" for index in range(count)]


def _paths(spec: ModuleSpec, extra_tags: int) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    for service in spec.services:
        base = ("Services", service.name)
        for name, kind, writable in SERVICE_VARIABLES:
            yield (*base, name), kind, writable
        for procedure in service.procedures:
            for parameter in procedure.parameters:
                for name, kind, writable in PARAMETER_VARIABLES:
                    yield (*base, procedure.name, parameter.name, name), kind, writable
    for pv in spec.process_values:
        yield ("ProcessValues", pv.name, "V"), "float", False
    for name in extra_tag_names(extra_tags):
        yield ("Indicators", name, "V"), "float", False


def build_address_space(
    spec: ModuleSpec, layout: Layout | str, *, extra_tags: int = 0
) -> ModuleAddressSpace:
    """Allocate node ids for every variable of ``spec`` in the given layout
    (deterministic: the same module and layout always give the same ids)."""
    layout = Layout(layout)
    compact = spec.name.replace("-", "")
    variables: dict[tuple[str, ...], VariableDef] = {}
    if layout is Layout.STRING:
        uri = f"urn:holon:simulator:{spec.name}"
        namespaces: tuple[str, ...] = (uri,)
        for path, kind, writable in _paths(spec, extra_tags):
            identifier = f"s=|var|{compact}.Application.MTP.{'.'.join(path)}"
            variables[path] = VariableDef(path, kind, writable, NodeRef(uri, identifier))
    else:
        uri = f"http://vendor.example.com/PEA/{compact}/"
        namespaces = ("http://vendor.example.com/Types/", uri)
        start = 7000 + 13 * (sum(map(ord, compact)) % 97)
        for offset, (path, kind, writable) in enumerate(_paths(spec, extra_tags)):
            ref = NodeRef(uri, f"i={start + 3 * offset}")
            variables[path] = VariableDef(path, kind, writable, ref)
    return ModuleAddressSpace(spec.name, namespaces, variables)
