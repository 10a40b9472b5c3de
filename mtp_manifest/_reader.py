"""Read an MTP manifest as vendors write it (VDI/VDE/NAMUR 2658-1, OPC UA per 2658-5.1).

What the reader follows, whatever tool wrote the file:

* **The module** is the InternalElement of class ``MTPSUCLib/ModuleTypePackage``; its
  ``CommunicationSet`` holds the ``SourceList`` (OPC UA server, endpoint, one
  ``OPCUAItem`` per variable) and the ``InstanceList`` (the data assemblies).
* **Aspects** such as the services may live in other instance hierarchies: manifest
  1.1.0 links them from the module's ``ServiceSet`` through an ``AspectSetReference``
  interface whose ``AspectRef`` holds the hierarchy's ID; manifest 1.0.0 through an
  ``ExternalDataConnector`` whose ``refURI`` names it. Holon's own dialect keeps the
  services inside the ``ServiceSet``. All three are read.
* **Cross-aspect links** (service -> ``ServiceControl``, procedure parameter ->
  ``AnaServParam``) use ``RefID``: elements sharing a ``RefID`` value are one entity.
  Holon's dialect (and some tools) put the data assembly's element ``ID`` there instead;
  both resolve.
* **Variables**: a data assembly attribute is a link to an OPC UA item when the file
  marks it so (``xs:IDREF`` in 1.0.0, ``IDLinkAttributeType`` in 1.1.0) or when its value
  is an item's ID; everything else is a constant. ``RefID``, ``TagName`` and
  ``TagDescription`` are never links. ``VUnit``, ``VMin`` and ``VMax`` may be either:
  a constant range is kept as numbers, a live one as nodes the client reads.
* **Identifiers** are typed by the ``Identifier`` attribute's ``AttributeDataType``
  (``xs:string``, an integer type, ``xs:ID`` for a GUID, ``xs:base64Binary`` for opaque)
  and qualified by a namespace URI (or index).
* **Classes** are recognised by class path and by derivation through the file's own
  class libraries, never by element name; the 2658-4 draft names some tools still write
  (``ServiceProcedure``, ``ServicesSet``, ``DataAssembly/ServiceControl``) are accepted.

Nothing is dropped silently: whatever the reader cannot interpret becomes a
:class:`ManifestIssue` with its element path and ID - an error
(the whole manifest is refused with every error listed) or, where the module stays usable
without that part, a warning returned with the manifest.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from mtp_manifest import _caex as caex
from mtp_manifest._errors import ManifestError
from mtp_manifest._model import (
    ManifestIssue,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
)
from mtp_manifest._units import unit_name

__all__ = ["REQUIRED_PARAMETER_VARIABLES", "REQUIRED_SERVICE_VARIABLES", "read_document"]

_DA = "MTPDataObjectSUCLib/DataAssembly"
_PARAM = f"{_DA}/ServiceElement/ParameterElement"
_VIEW = f"{_DA}/IndicatorElement"

MODULE = ("MTPSUCLib/ModuleTypePackage",)
COMMUNICATION_SET = ("MTPSUCLib/CommunicationSet",)
INSTANCE_LIST = ("MTPSUCLib/CommunicationSet/InstanceList",)
SOURCE_LIST = ("MTPSUCLib/CommunicationSet/SourceList",)
OPC_SERVER = ("MTPCommunicationSUCLib/ServerAssembly/OPCUAServer",)
OPC_ITEM = ("MTPCommunicationICLib/DataItem/OPCUAItem",)
SERVICE_SET = (
    "MTPServiceSUCLib/ServiceSet",
    "MTPSUCLib/ServiceSet",
    "MTPSUCLib/ServicesSet",
    "MTPServiceSUCLib/ServicesSet",
)
SERVICE = ("MTPServiceSUCLib/Service",)
PROCEDURE = ("MTPServiceSUCLib/Service/Procedure", "MTPServiceSUCLib/ServiceProcedure")
PROCEDURE_PARAMETER = ("MTPServiceSUCLib/ServiceParameter/ProcedureParameter",)
CONFIGURATION_PARAMETER = ("MTPServiceSUCLib/ServiceParameter/ConfigurationParameter",)
SERVICE_CONTROL = (f"{_DA}/ServiceElement/ServiceControl", f"{_DA}/ServiceControl")
PROCEDURE_HEALTH = (
    f"{_DA}/ServiceElement/ProcedureHealthView",
    f"{_DA}/DiagnosticElement/HealthStateView",
)
NUMERIC_PARAMETER = (
    f"{_PARAM}/AnaServParam",
    f"{_PARAM}/DIntServParam",
    f"{_DA}/OperationElement/AnaServParam",
    f"{_DA}/OperationElement/DIntServParam",
)
UNSUPPORTED_PARAMETER = (
    f"{_PARAM}/BinServParam",
    f"{_PARAM}/StringServParam",
    f"{_DA}/OperationElement/BinServParam",
    f"{_DA}/OperationElement/StringServParam",
)
UNIT_VIEW = (f"{_VIEW}/AnaView", f"{_VIEW}/DIntView")
UNITLESS_VIEW = (f"{_VIEW}/BinView",)

#: ServiceControl variables the client needs (2658-4 operation mode, source, commands).
REQUIRED_SERVICE_VARIABLES: tuple[str, ...] = (
    "StateCur",
    "CommandEn",
    "CommandExt",
    "ProcedureExt",
    "ProcedureCur",
    "StateOpOp",
    "StateAutOp",
    "StateOffAct",
    "StateOpAct",
    "StateAutAct",
    "SrcExtOp",
    "SrcExtAct",
)
#: Mode and source requests: the operator channel's variable, or the automatic one
#: (``StateChannel``/``SrcChannel`` select which the module listens to).
_CHANNEL_ALTERNATIVES = {
    "StateOpOp": "StateOpAut",
    "StateAutOp": "StateAutAut",
    "SrcExtOp": "SrcExtAut",
}
#: Parameter variables the client needs to write and verify a parameter.
REQUIRED_PARAMETER_VARIABLES: tuple[str, ...] = ("VExt", "ApplyExt", "VOut")

#: Attributes that describe a data assembly and never link to an OPC UA item.
_NEVER_LINKS = frozenset({"RefID", "TagName", "TagDescription"})

_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
_INTEGER_TYPES = frozenset(
    {
        "int",
        "integer",
        "long",
        "short",
        "byte",
        "unsignedint",
        "unsignedlong",
        "unsignedshort",
        "unsignedbyte",
        "nonnegativeinteger",
        "positiveinteger",
    }
)
_STRING_TYPES = frozenset({"string", "normalizedstring", "token", ""})
_GUID_TYPES = frozenset({"id", "guid"})
_OPAQUE_TYPES = frozenset({"base64binary", "bytestring"})
_UINT32_MAX = 2**32 - 1

Located = tuple[Any, str]


def read_document(root: Any) -> ModuleManifest:
    """The module a parsed CAEX document describes; raises :class:`ManifestError`
    listing every error, returns the manifest with its warnings otherwise."""
    return _Reader(root).module()


def _typed_identifier(raw: str, data_type: str) -> str:
    """The identifier with its OPC UA type prefix, from the declared data type.

    Raises ``ValueError`` naming the problem when the value does not fit the type."""
    text = raw.strip()
    kind = data_type.lower().removeprefix("xs:")
    if kind in _STRING_TYPES:
        # Holon's dialect (and hand-written files) may carry the prefix in a string.
        if len(text) > 2 and text[1] == "=" and text[0] in "sigb":
            return text
        return f"s={text}"
    if kind in _INTEGER_TYPES:
        if not text.isdigit() or int(text) > _UINT32_MAX:
            raise ValueError(f"numeric Identifier {text!r} is not a UInt32")
        return f"i={int(text)}"
    if kind in _GUID_TYPES:
        try:
            return f"g={uuid.UUID(text)}"
        except ValueError:
            raise ValueError(f"GUID Identifier {text!r} is not a GUID") from None
    if kind in _OPAQUE_TYPES:
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"opaque Identifier {text!r} is not base64") from None
        return f"b={text}"
    raise ValueError(f"Identifier type {data_type!r} is not an OPC UA identifier type")


class _DataAssembly:
    """An InstanceList element with its attributes, found by ID or by shared RefID."""

    __slots__ = ("attributes", "class_path", "element", "element_id", "path", "used")

    def __init__(self, element: Any, path: str) -> None:
        self.element = element
        self.path = path
        self.element_id = str(element.get("ID", ""))
        self.class_path = caex.class_of(element)
        self.attributes = caex.attributes(element)
        self.used = False


class _Reader:
    """One pass over the CAEX tree, collecting located issues."""

    def __init__(self, root: Any) -> None:
        if caex.local(root.tag) != "CAEXFile":
            raise ManifestError(caex.local(root.tag), "root element is not a CAEXFile")
        self.root = root
        self.library = caex.ClassLibrary(root)
        self.issues: list[ManifestIssue] = []
        self.hierarchies = [
            (h, str(h.get("Name", "?"))) for h in caex.children(root, "InstanceHierarchy")
        ]
        found = self._everywhere(MODULE)
        if not found:
            raise ManifestError("CAEXFile", "no ModuleTypePackage element")
        self.module_element, self.module_path = found[0]
        for _, path in found[1:]:
            self._warn(path, "a second ModuleTypePackage is ignored")
        self.items: dict[str, NodeRef] = {}
        self.assemblies_by_id: dict[str, _DataAssembly] = {}
        self.assemblies_by_refid: dict[str, _DataAssembly] = {}

    # ------------------------------------------------------------------ helpers

    def _is(self, element: Any, classes: Iterable[str]) -> bool:
        return self.library.derives(caex.class_of(element), classes)

    def _everywhere(self, classes: tuple[str, ...]) -> list[Located]:
        """Every element of the class in any instance hierarchy, in document order."""
        return [
            (e, p)
            for h, name in self.hierarchies
            for e, p in caex.walk(h, name)
            if self._is(e, classes)
        ]

    def _error(self, path: str, problem: str, element: Any = None) -> None:
        element_id = "" if element is None else str(element.get("ID", ""))
        self.issues.append(ManifestIssue("error", path, problem, element_id))

    def _warn(self, path: str, problem: str, element: Any = None) -> None:
        element_id = "" if element is None else str(element.get("ID", ""))
        self.issues.append(ManifestIssue("warning", path, problem, element_id))

    def _one(self, parent: Any, path: str, classes: tuple[str, ...]) -> Located:
        """The first element of the class below ``parent``, else in any hierarchy."""
        for element, child_path in caex.walk(parent, path):
            if self._is(element, classes):
                return element, child_path
        anywhere = self._everywhere(classes)
        if anywhere:
            return anywhere[0]
        raise ManifestError(path, f"no {classes[0].rsplit('/', 1)[-1]} element")

    # ------------------------------------------------------------------ module

    def module(self) -> ModuleManifest:
        comm_el, comm_path = self._one(self.module_element, self.module_path, COMMUNICATION_SET)
        source_el, source_path = self._one(comm_el, comm_path, SOURCE_LIST)
        instance_el, instance_path = self._one(comm_el, comm_path, INSTANCE_LIST)
        endpoint = self._sources(source_el, source_path)
        self._assemblies(instance_el, instance_path)
        services = self._services()
        process_values = self._process_values()
        for assembly in self.assemblies_by_id.values():
            if not assembly.used:
                self._warn(
                    assembly.path,
                    f"data assembly of class {assembly.class_path or '(none)'} is not used "
                    "by any service or process value Holon reads",
                    assembly.element,
                )
        errors = [i for i in self.issues if i.severity == "error"]
        warnings = tuple(i for i in self.issues if i.severity == "warning")
        if errors:
            first = errors[0]
            raise ManifestError(
                first.path,
                first.problem,
                element_id=first.element_id,
                issues=(*errors, *warnings),
            )
        return ModuleManifest(
            name=str(self.module_element.get("Name", "")),
            endpoint=endpoint,
            services=services,
            process_values=process_values,
            issues=warnings,
            version=self._version(),
        )

    def _version(self) -> str:
        declared = caex.attributes(self.module_element).get("Version")
        if declared is not None and declared.value:
            return declared.value
        for info in caex.children(self.root, "AdditionalInformation"):
            if info.get("ManifestVersion"):
                return str(info.get("ManifestVersion"))
        return ""

    # ------------------------------------------------------------------ sources

    def _sources(self, source: Any, path: str) -> str:
        servers = [(e, p) for e, p in caex.walk(source, path) if self._is(e, OPC_SERVER)]
        if not servers:
            raise ManifestError(path, "no OPCUAServer element")
        server, server_path = servers[0]
        for _, extra in servers[1:]:
            self._warn(extra, "a second OPC UA server is not supported; its items are read")
        endpoint = caex.attributes(server).get("Endpoint")
        url = "" if endpoint is None else endpoint.value
        if not url.startswith("opc.tcp://"):
            raise ManifestError(server_path, f"Endpoint is not an opc.tcp URL: {url!r}")
        for element, element_path in servers:
            self._items(element, element_path)
        return url

    def _items(self, server: Any, server_path: str) -> None:
        for interface in caex.children(server, "ExternalInterface"):
            item_path = f"{server_path}/{interface.get('Name', '?')}"
            if not self._is(interface, OPC_ITEM):
                self._warn(
                    item_path,
                    f"interface of class {caex.class_of(interface) or '(none)'} is not an "
                    "OPCUAItem and is ignored",
                    interface,
                )
                continue
            item_id = str(interface.get("ID", ""))
            attrs = caex.attributes(interface)
            if not item_id:
                self._error(item_path, "OPCUAItem without ID", interface)
                continue
            if item_id in self.items:
                self._error(item_path, f"duplicate ID {item_id!r}", interface)
                continue
            identifier = attrs.get("Identifier")
            namespace = attrs.get("Namespace")
            if (
                identifier is None
                or not identifier.value
                or namespace is None
                or not namespace.value
            ):
                self._error(item_path, "OPCUAItem needs Identifier and Namespace", interface)
                continue
            try:
                typed = _typed_identifier(identifier.value, identifier.data_type)
            except ValueError as exc:
                self._error(item_path, str(exc), interface)
                continue
            ref = NodeRef(namespace=namespace.value, identifier=typed)
            self.items[item_id] = ref
            own = attrs.get("RefID")
            if own is not None and own.value and own.value not in self.items:
                self.items[own.value] = ref

    # ------------------------------------------------------------------ data assemblies

    def _assemblies(self, instance_list: Any, path: str) -> None:
        for element, child_path in caex.walk(instance_list, path):
            assembly = _DataAssembly(element, child_path)
            if not assembly.element_id:
                self._error(child_path, "data assembly without ID", element)
                continue
            if assembly.element_id in self.assemblies_by_id:
                self._error(child_path, f"duplicate ID {assembly.element_id!r}", element)
                continue
            self.assemblies_by_id[assembly.element_id] = assembly
            ref = assembly.attributes.get("RefID")
            if ref is not None and ref.value:
                if ref.value in self.assemblies_by_refid:
                    self._error(child_path, f"duplicate RefID {ref.value!r}", element)
                    continue
                self.assemblies_by_refid[ref.value] = assembly

    def _linked(
        self, element: Any, path: str, classes: tuple[str, ...], what: str
    ) -> _DataAssembly | None:
        """The data assembly an element's ``RefID`` names (shared RefID, else element ID)."""
        ref = caex.attributes(element).get("RefID")
        if ref is None or not ref.value:
            self._error(path, f"no RefID to its {what}", element)
            return None
        target = self.assemblies_by_refid.get(ref.value) or self.assemblies_by_id.get(ref.value)
        if target is None:
            self._error(path, f"RefID {ref.value!r} points nowhere", element)
            return None
        if not self._is(target.element, classes):
            self._error(
                path, f"RefID {ref.value!r} is not a {what} (class {target.class_path})", element
            )
            return None
        target.used = True
        return target

    def _links(self, assembly: _DataAssembly) -> dict[str, NodeRef]:
        """Every attribute of the assembly that links to an OPC UA item."""
        nodes: dict[str, NodeRef] = {}
        for name, attribute in assembly.attributes.items():
            if name in _NEVER_LINKS or attribute.is_identity or not attribute.value:
                continue
            ref = self.items.get(attribute.value)
            if ref is not None:
                nodes[name] = ref
            elif attribute.declared_link:
                self._error(
                    assembly.path,
                    f"{name} links to {attribute.value!r}, which is no OPC UA item "
                    "(points nowhere)",
                    assembly.element,
                )
        return nodes

    def _require(
        self, assembly: _DataAssembly, nodes: Mapping[str, NodeRef], required: Iterable[str]
    ) -> bool:
        ok = True
        for name in required:
            if name in nodes:
                continue
            ok = False
            if name in assembly.attributes and assembly.attributes[name].value:
                problem = f"{name} is a constant, not linked to an OPC UA item"
            else:
                problem = f"{name} is missing"
            self._error(assembly.path, problem, assembly.element)
        return ok

    def _unit(self, assembly: _DataAssembly, nodes: Mapping[str, NodeRef], what: str) -> str | None:
        """The unit name of a constant ``VUnit`` ("" when live), ``None`` on error."""
        if "VUnit" in nodes:
            return ""
        attribute = assembly.attributes.get("VUnit")
        raw = "" if attribute is None else attribute.value
        if not raw:
            self._error(assembly.path, f"{what} without unit (VUnit)", assembly.element)
            return None
        if raw.lstrip("-").isdigit():
            name = unit_name(int(raw))
            if name is None:
                self._warn(
                    assembly.path,
                    f"VUnit code {raw} is not a 2658 unit code Holon knows; "
                    f"shown as 'unit code {raw}'",
                    assembly.element,
                )
                return f"unit code {raw}"
            return name
        return raw

    def _limit(
        self, assembly: _DataAssembly, nodes: Mapping[str, NodeRef], name: str
    ) -> tuple[bool, float | None]:
        if name in nodes:
            return True, None
        attribute = assembly.attributes.get(name)
        raw = "" if attribute is None else attribute.value
        if not raw:
            self._error(assembly.path, f"{name} is missing", assembly.element)
            return False, None
        try:
            return True, float(raw)
        except ValueError:
            self._error(assembly.path, f"{name} is not a number: {raw!r}", assembly.element)
            return False, None

    # ------------------------------------------------------------------ services

    def _service_elements(self) -> list[Located]:
        sets = [
            (e, p)
            for e, p in caex.walk(self.module_element, self.module_path)
            if self._is(e, SERVICE_SET)
        ]
        if not sets:
            sets = self._everywhere(SERVICE_SET)
        if not sets:
            self._warn(
                self.module_path,
                "no ServiceSet: the module offers no services",
                self.module_element,
            )
            return []
        containers: list[Located] = []
        for element, path in sets:
            containers.append((element, path))
            containers.extend(self._aspects(element, path))
        seen: set[int] = set()
        services: list[Located] = []
        for container, path in containers:
            for element, child_path in caex.walk(container, path):
                if self._is(element, SERVICE) and id(element) not in seen:
                    seen.add(id(element))
                    services.append((element, child_path))
        if not services:
            self._warn(sets[0][1], "the ServiceSet holds no services", sets[0][0])
        return services

    def _aspects(self, service_set: Any, path: str) -> list[Located]:
        """The instance hierarchies the ServiceSet refers to (AspectRef / refURI)."""
        found: list[Located] = []
        for interface in caex.children(service_set, "ExternalInterface"):
            lineage = self.library.lineage(caex.class_of(interface))
            kinds = {p.rsplit("/", 1)[-1] for p in lineage}
            attrs = caex.attributes(interface)
            where = f"{path}/{interface.get('Name', '?')}"
            if "AspectSetReference" in kinds:
                key = attrs.get("AspectRef")
                target = "" if key is None else key.value
            elif "ExternalDataConnector" in kinds:
                key = attrs.get("refURI")
                target = ("" if key is None else key.value).split("#")[-1].strip("/")
            else:
                continue
            if not target:
                self._error(where, "aspect reference without a target", interface)
                continue
            hierarchy = next(
                (
                    (h, name)
                    for h, name in self.hierarchies
                    if h.get("ID") == target or name == target
                ),
                None,
            )
            if hierarchy is None:
                self._error(
                    where, f"aspect reference {target!r} points to no InstanceHierarchy", interface
                )
                continue
            found.append(hierarchy)
        return found

    def _services(self) -> dict[str, ServiceManifest]:
        services: dict[str, ServiceManifest] = {}
        for element, path in self._service_elements():
            service = self._service(element, path)
            if service is None:
                continue
            if service.name in services:
                self._error(path, f"duplicate service name {service.name!r}", element)
                continue
            services[service.name] = service
        return services

    def _service(self, element: Any, path: str) -> ServiceManifest | None:
        if "RefID" not in caex.attributes(element):
            self._error(path, "service without ServiceControl (no RefID)", element)
            return None
        assembly = self._linked(element, path, SERVICE_CONTROL, "ServiceControl")
        control: dict[str, NodeRef] = {}
        if assembly is not None:
            control = self._links(assembly)
            required = [
                name
                for name in REQUIRED_SERVICE_VARIABLES
                if name not in _CHANNEL_ALTERNATIVES or _CHANNEL_ALTERNATIVES[name] not in control
            ]
            if not self._require(assembly, control, required):
                assembly = None
        procedures: dict[str, ProcedureManifest] = {}
        configuration: dict[str, ParameterManifest] = {}
        for child in caex.children(element, "InternalElement"):
            child_path = f"{path}/{child.get('Name', '?')}"
            if self._is(child, PROCEDURE):
                procedure = self._procedure(child, child_path)
                if procedure is None:
                    continue
                if procedure.name in procedures:
                    self._error(child_path, f"duplicate procedure name {procedure.name!r}", child)
                elif any(p.procedure_id == procedure.procedure_id for p in procedures.values()):
                    self._error(
                        child_path, f"duplicate ProcedureId {procedure.procedure_id}", child
                    )
                else:
                    procedures[procedure.name] = procedure
            elif self._is(child, CONFIGURATION_PARAMETER):
                parameter = self._parameter(child, child_path)
                if parameter is not None:
                    configuration[parameter.name] = parameter
            else:
                self._not_interpreted(child, child_path)
        if assembly is None:
            return None
        if not procedures:
            self._warn(path, "service without procedures cannot be started", element)
        return ServiceManifest(
            name=str(element.get("Name", "")),
            control=control,
            procedures=procedures,
            configuration=configuration,
        )

    def _not_interpreted(self, element: Any, path: str) -> None:
        self._warn(
            path,
            f"element of class {caex.class_of(element) or '(none)'} is not interpreted "
            "(Holon uses procedures, procedure and configuration parameters)",
            element,
        )

    def _procedure(self, element: Any, path: str) -> ProcedureManifest | None:
        attributes = caex.attributes(element)
        raw = attributes.get("ProcedureID") or attributes.get("ProcedureId")
        raw_id = "" if raw is None else raw.value
        if not raw_id.isdigit() or not 0 < int(raw_id) <= _UINT32_MAX:
            self._error(path, f"ProcedureID must be a positive integer, got {raw_id!r}", element)
            return None
        completing = attributes.get("IsSelfCompleting")
        if completing is None or not completing.value:
            self._warn(path, "IsSelfCompleting is not declared; taken as self-completing", element)
            self_completing = True
        elif completing.value.lower() in _BOOLEAN:
            self_completing = _BOOLEAN[completing.value.lower()]
        else:
            self._error(path, f"IsSelfCompleting is not a boolean: {completing.value!r}", element)
            return None
        if "RefID" in attributes and attributes["RefID"].value:
            target = self.assemblies_by_refid.get(
                attributes["RefID"].value
            ) or self.assemblies_by_id.get(attributes["RefID"].value)
            if target is not None:
                target.used = True
        parameters: dict[str, ParameterManifest] = {}
        for child in caex.children(element, "InternalElement"):
            child_path = f"{path}/{child.get('Name', '?')}"
            if not self._is(child, PROCEDURE_PARAMETER):
                self._not_interpreted(child, child_path)
                continue
            parameter = self._parameter(child, child_path)
            if parameter is None:
                continue
            if parameter.name in parameters:
                self._error(child_path, f"duplicate parameter name {parameter.name!r}", child)
                continue
            parameters[parameter.name] = parameter
        return ProcedureManifest(
            name=str(element.get("Name", "")),
            procedure_id=int(raw_id),
            parameters=parameters,
            self_completing=self_completing,
        )

    def _parameter(self, element: Any, path: str) -> ParameterManifest | None:
        ref = caex.attributes(element).get("RefID")
        target = None
        if ref is not None and ref.value:
            target = self.assemblies_by_refid.get(ref.value) or self.assemblies_by_id.get(ref.value)
        if target is not None and self._is(target.element, UNSUPPORTED_PARAMETER):
            target.used = True
            self._warn(
                path,
                f"parameter of class {target.class_path} is not supported (Holon writes "
                "numbers); it is not offered",
                element,
            )
            return None
        assembly = self._linked(element, path, NUMERIC_PARAMETER, "AnaServParam")
        if assembly is None:
            return None
        nodes = self._links(assembly)
        unit = self._unit(assembly, nodes, "parameter")
        ok_min, minimum = self._limit(assembly, nodes, "VMin")
        ok_max, maximum = self._limit(assembly, nodes, "VMax")
        if not self._require(assembly, nodes, REQUIRED_PARAMETER_VARIABLES):
            return None
        if unit is None or not ok_min or not ok_max:
            return None
        if minimum is not None and maximum is not None and minimum > maximum:
            self._error(assembly.path, f"VMin {minimum} > VMax {maximum}", assembly.element)
            return None
        return ParameterManifest(
            name=str(element.get("Name", "")),
            unit=unit,
            minimum=minimum,
            maximum=maximum,
            nodes=nodes,
        )

    # ------------------------------------------------------------------ process values

    def _process_values(self) -> dict[str, ProcessValueManifest]:
        values: dict[str, ProcessValueManifest] = {}
        for assembly in self.assemblies_by_id.values():
            with_unit = self._is(assembly.element, UNIT_VIEW)
            if not with_unit and not self._is(assembly.element, UNITLESS_VIEW):
                continue
            assembly.used = True
            name = str(assembly.element.get("Name", ""))
            if name in values:
                self._error(
                    assembly.path, f"duplicate process value name {name!r}", assembly.element
                )
                continue
            nodes = self._links(assembly)
            unit = self._unit(assembly, nodes, "process value") if with_unit else ""
            if not self._require(assembly, nodes, ("V",)) or unit is None:
                continue
            values[name] = ProcessValueManifest(
                name=name, unit=unit, node=nodes["V"], unit_node=nodes.get("VUnit")
            )
        return values
