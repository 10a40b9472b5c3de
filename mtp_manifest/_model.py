"""What a manifest says about one MTP module (PEA), independent of how the file said it.

The reader builds these from vendor or Holon manifests; the runtime's writer
(``mes_runtime.mtp.writer``) turns them back into AutomationML, its client and supervisor
drive a module from them alone, and the operator's Equipment check reads every node they
declare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mtp_manifest._errors import ManifestError

__all__ = [
    "ManifestIssue",
    "ModuleManifest",
    "NodeRef",
    "ParameterManifest",
    "ProcedureManifest",
    "ProcessValueManifest",
    "ServiceManifest",
]


@dataclass(frozen=True, slots=True)
class ManifestIssue:
    """One thing the reader could not interpret, located by element path and CAEX ``ID``.

    An ``error`` makes the manifest unusable (nothing is imported); a ``warning`` leaves
    the module usable without the part it names.
    """

    severity: Literal["error", "warning"]
    path: str
    problem: str
    element_id: str = ""

    def __str__(self) -> str:
        where = self.path + (f" [{self.element_id}]" if self.element_id else "")
        return f"{where}: {self.problem}" if where else self.problem


@dataclass(frozen=True, slots=True)
class NodeRef:
    """One OPC UA variable as the manifest names it: namespace (URI or index) + identifier.

    ``identifier`` carries its type prefix (``s=`` string, ``i=`` numeric, ``g=`` GUID,
    ``b=`` opaque/base64), taken from the type the manifest declares for it.
    """

    namespace: str
    identifier: str

    def node_id(self, namespaces: Sequence[str] = ()) -> str:
        """The full node id string (``ns=3;i=1234``), resolving a URI in ``namespaces``."""
        if self.namespace.isdigit():
            index = int(self.namespace)
        else:
            try:
                index = list(namespaces).index(self.namespace)
            except ValueError:
                raise ManifestError(
                    "", f"namespace {self.namespace!r} is not served by the module"
                ) from None
        return f"ns={index};{self.identifier}"


@dataclass(frozen=True, slots=True)
class ParameterManifest:
    """A service parameter (``AnaServParam``/``DIntServParam``): range, unit, variables.

    ``minimum``/``maximum`` are ``None`` when the module publishes them live (``VMin``/
    ``VMax`` are OPC UA items, found in ``nodes``); ``unit`` is empty when ``VUnit`` is.
    """

    name: str
    unit: str
    minimum: float | None
    maximum: float | None
    nodes: Mapping[str, NodeRef]


@dataclass(frozen=True, slots=True)
class ProcedureManifest:
    """A service procedure, selected by ``ProcedureId`` through ``ProcedureExt``.

    ``self_completing`` is the manifest's ``IsSelfCompleting``: a procedure that is not
    (stirring, tempering, holding) stays in Execute until it is sent ``Complete``.
    """

    name: str
    procedure_id: int
    parameters: Mapping[str, ParameterManifest]
    self_completing: bool = True


@dataclass(frozen=True, slots=True)
class ServiceManifest:
    """A service: its ``ServiceControl`` variables, procedures and configuration parameters."""

    name: str
    control: Mapping[str, NodeRef]
    procedures: Mapping[str, ProcedureManifest]
    configuration: Mapping[str, ParameterManifest] = field(default_factory=dict)

    def procedure_by_id(self, procedure_id: int) -> ProcedureManifest | None:
        """The procedure with this ``ProcedureId`` (``ProcedureCur`` -> name)."""
        return next((p for p in self.procedures.values() if p.procedure_id == procedure_id), None)

    def nodes(self) -> dict[str, NodeRef]:
        """Every variable of the service, keyed by a readable path (``Service.StateCur``,
        ``Service/Parameter.VExt``, ``Service/Procedure/Parameter.VExt``)."""
        result = {f"{self.name}.{var}": ref for var, ref in self.control.items()}
        for name, parameter in self.configuration.items():
            for var, ref in parameter.nodes.items():
                result[f"{self.name}/{name}.{var}"] = ref
        for procedure in self.procedures.values():
            for parameter in procedure.parameters.values():
                for var, ref in parameter.nodes.items():
                    result[f"{self.name}/{procedure.name}/{parameter.name}.{var}"] = ref
        return result


@dataclass(frozen=True, slots=True)
class ProcessValueManifest:
    """An indicator (``AnaView``, ``DIntView``, ``BinView``): unit and the node of its ``V``.

    ``unit_node`` is set when the module publishes ``VUnit`` live (``unit`` is then empty).
    """

    name: str
    unit: str
    node: NodeRef
    unit_node: NodeRef | None = None


@dataclass(frozen=True, slots=True)
class ModuleManifest:
    """Everything known about one module (PEA), straight from its manifest.

    ``issues`` holds the reader's warnings (a manifest with errors is never returned) and
    ``version`` the manifest version the file declares; neither takes part in equality.
    """

    name: str
    endpoint: str
    services: Mapping[str, ServiceManifest]
    process_values: Mapping[str, ProcessValueManifest]
    issues: tuple[ManifestIssue, ...] = field(default=(), compare=False)
    version: str = field(default="", compare=False)

    def nodes(self) -> dict[str, NodeRef]:
        """Every declared variable, keyed by a readable path (``Service.StateCur``,
        ``Service/Procedure/Parameter.VExt``, ``ProcessValue.V``)."""
        result: dict[str, NodeRef] = {}
        for service in self.services.values():
            result.update(service.nodes())
        for value in self.process_values.values():
            result[f"{value.name}.V"] = value.node
            if value.unit_node is not None:
                result[f"{value.name}.VUnit"] = value.unit_node
        return result
