"""MTP manifests (VDI/VDE/NAMUR 2658-1): read and write the AutomationML (CAEX) description.

Plug and play means the equipment describes itself. A module's manifest lists its OPC UA
endpoint, its services with their ``ServiceControl`` variables, their procedures with
``ProcedureID`` and parameters (``AnaServParam``), and its process values (``AnaView``).
Every OPC UA variable is an ``OPCUAItem`` in the ``SourceList`` (``Identifier``,
``Namespace``, ``Access``); data assemblies in the ``InstanceList`` and services in the
``ServiceSet`` point at each other through ``RefID`` links. The client is driven only by
what this module extracts: no node id is hard-coded anywhere else.

A manifest may name the OPC UA namespace by URI (the usual case) or by index; a
:class:`NodeRef` keeps both parts and is resolved against the server's namespace array
at connect time.

Written: manifest 1.0.0 structure (CAEX 2.15, no default namespace, ``xs:IDREF`` links)
with the class names of the released 2658-4:2022 (``MTPServiceSUCLib/ServiceSet``,
``MTPServiceSUCLib/Service/Procedure``, ``.../ServiceElement/ServiceControl``). Read, in
addition: CAEX 3.0 (namespaced) files, aspects kept in separate instance hierarchies
(manifest 1.1.0 style, the link values are IDs either way) and the 2658-4 draft class
names still written by some tools (``ServiceProcedure``, ``ServicesSet``). Classes are
recognised by ``RefBaseSystemUnitPath``/``RefBaseClassPath``, never by element name.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, indent, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from mes_runtime.mtp.errors import ManifestError

__all__ = [
    "REQUIRED_PARAMETER_VARIABLES",
    "REQUIRED_SERVICE_VARIABLES",
    "ManifestError",
    "ModuleManifest",
    "NodeRef",
    "ParameterManifest",
    "ProcedureManifest",
    "ProcessValueManifest",
    "ServiceManifest",
    "load_manifest",
    "write_manifest",
    "write_mtp_zip",
]


# Role/system-unit class paths of the MTP libraries (2658-1 / -4 / -5.1).
MODULE_CLASS = "MTPSUCLib/ModuleTypePackage"
COMMUNICATION_SET_CLASS = "MTPSUCLib/CommunicationSet"
INSTANCE_LIST_CLASS = "MTPSUCLib/CommunicationSet/InstanceList"
SOURCE_LIST_CLASS = "MTPSUCLib/CommunicationSet/SourceList"
SERVICE_SET_CLASS = "MTPServiceSUCLib/ServiceSet"
OPC_SERVER_CLASS = "MTPCommunicationSUCLib/ServerAssembly/OPCUAServer"
OPC_ITEM_CLASS = "MTPCommunicationICLib/DataItem/OPCUAItem"
SERVICE_CONTROL_CLASS = "MTPDataObjectSUCLib/DataAssembly/ServiceElement/ServiceControl"
ANA_SERV_PARAM_CLASS = (
    "MTPDataObjectSUCLib/DataAssembly/ServiceElement/ParameterElement/AnaServParam"
)
ANA_VIEW_CLASS = "MTPDataObjectSUCLib/DataAssembly/IndicatorElement/AnaView"
SERVICE_CLASS = "MTPServiceSUCLib/Service"
PROCEDURE_CLASS = "MTPServiceSUCLib/Service/Procedure"

# Class names of the 2658-4 v0.1 draft that tools such as MTPPy still write; read, never written.
_ALIASES: dict[str, frozenset[str]] = {
    "Procedure": frozenset({"Procedure", "ServiceProcedure"}),
    "ServiceSet": frozenset({"ServiceSet", "ServicesSet"}),
}
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PROCEDURE_PARAMETER_CLASS = "MTPServiceSUCLib/ServiceParameter/ProcedureParameter"

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
#: AnaServParam variables the client needs to write and verify a parameter.
REQUIRED_PARAMETER_VARIABLES: tuple[str, ...] = ("VExt", "ApplyExt", "VOut")

# Static (non-OPC) attributes of data assemblies: everything else is a RefID to an item.
_STATIC_ATTRIBUTES = frozenset({"VUnit", "VMin", "VMax", "VSclMin", "VSclMax", "TagName"})


@dataclass(frozen=True, slots=True)
class NodeRef:
    """One OPC UA variable as the manifest names it: namespace (URI or index) + identifier.

    ``identifier`` carries its type prefix (``s=``, ``i=``, ``g=``, ``b=``).
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
    """A procedure parameter (``AnaServParam``): range, unit and its variables."""

    name: str
    unit: str
    minimum: float
    maximum: float
    nodes: Mapping[str, NodeRef]


@dataclass(frozen=True, slots=True)
class ProcedureManifest:
    """A service procedure, selected by ``ProcedureId`` through ``ProcedureExt``."""

    name: str
    procedure_id: int
    parameters: Mapping[str, ParameterManifest]


@dataclass(frozen=True, slots=True)
class ServiceManifest:
    """A service: its ``ServiceControl`` variables and its procedures."""

    name: str
    control: Mapping[str, NodeRef]
    procedures: Mapping[str, ProcedureManifest]

    def procedure_by_id(self, procedure_id: int) -> ProcedureManifest | None:
        """The procedure with this ``ProcedureId`` (``ProcedureCur`` -> name)."""
        return next((p for p in self.procedures.values() if p.procedure_id == procedure_id), None)


@dataclass(frozen=True, slots=True)
class ProcessValueManifest:
    """An analog indicator (``AnaView``): unit and the node of its ``V``."""

    name: str
    unit: str
    node: NodeRef


@dataclass(frozen=True, slots=True)
class ModuleManifest:
    """Everything the runtime knows about one module (PEA), straight from its manifest."""

    name: str
    endpoint: str
    services: Mapping[str, ServiceManifest]
    process_values: Mapping[str, ProcessValueManifest]


# --------------------------------------------------------------------------- reading


def load_manifest(source: bytes | Path) -> ModuleManifest:
    """Parse a ``.aml`` document or a zipped ``.mtp`` package (bytes or a file path)."""
    data = source.read_bytes() if isinstance(source, Path) else source
    if data[:4] == b"PK\x03\x04":
        data = _aml_from_zip(data)
    try:
        root = SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise ManifestError("", f"not XML: {exc}") from exc
    _check_depth(root)
    return _Reader(root).module()


#: Bounds on what a manifest may cost before it is read: an AutomationML module nests a
#: few tens of levels, and its .aml is a few MiB at most.
MAX_XML_DEPTH = 256
MAX_AML_BYTES = 64 * 1024 * 1024


def _check_depth(root: Any) -> None:
    """Refuse documents nested deeper than ``MAX_XML_DEPTH`` (the reader walks recursively)."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise ManifestError("", f"the document is nested deeper than {MAX_XML_DEPTH} levels")
        stack.extend((child, depth + 1) for child in element)


def _aml_from_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".aml")]
            if len(names) != 1:
                found = "no .aml" if not names else f"{len(names)} .aml files"
                raise ManifestError("", f"MTP package must contain one .aml, found {found}")
            return _read_bounded(archive, names[0])
    except zipfile.BadZipFile as exc:
        raise ManifestError("", f"not a valid .mtp zip: {exc}") from exc


def _read_bounded(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, refusing more than ``MAX_AML_BYTES`` whatever its header claims."""
    too_big = f"{name} unpacks to more than {MAX_AML_BYTES} bytes"
    if archive.getinfo(name).file_size > MAX_AML_BYTES:
        raise ManifestError("", too_big)
    with archive.open(name) as member:
        data = member.read(MAX_AML_BYTES + 1)
    if len(data) > MAX_AML_BYTES:
        raise ManifestError("", too_big)
    return data


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _children(element: Any, local_name: str) -> Iterator[Any]:
    return (child for child in element if _local(child.tag) == local_name)


def _attributes(element: Any) -> dict[str, str]:
    """``<Attribute Name=.. ><Value>..</Value></Attribute>`` children as a dict."""
    result: dict[str, str] = {}
    for attribute in _children(element, "Attribute"):
        value = next(_children(attribute, "Value"), None)
        text = "" if value is None or value.text is None else value.text.strip()
        result[str(attribute.get("Name", ""))] = text
    return result


def _walk(element: Any, path: str) -> Iterator[tuple[Any, str]]:
    """Every InternalElement below ``element`` (depth first) with its name path."""
    for child in _children(element, "InternalElement"):
        child_path = f"{path}/{child.get('Name', '?')}"
        yield child, child_path
        yield from _walk(child, child_path)


def _class_of(element: Any) -> str:
    return str(element.get("RefBaseSystemUnitPath") or element.get("RefBaseClassPath") or "")


def _is(element: Any, class_path: str) -> bool:
    """Class match by the path's last segment, so libraries under another prefix (and the
    draft names in ``_ALIASES``) work."""
    found = _class_of(element)
    if found == class_path:
        return True
    wanted = class_path.rsplit("/", 1)[-1]
    return found.rsplit("/", 1)[-1] in _ALIASES.get(wanted, frozenset({wanted}))


def _parse_identifier(raw: str) -> str:
    text = raw.strip()
    if len(text) > 2 and text[1] == "=" and text[0] in "sigb":
        return text
    return f"s={text}"


def _number(raw: str | None, path: str, what: str) -> float:
    if raw is None or raw == "":
        raise ManifestError(path, f"{what} is missing")
    try:
        return float(raw)
    except ValueError:
        raise ManifestError(path, f"{what} is not a number: {raw!r}") from None


class _Reader:
    """One pass over the CAEX tree; keeps the element paths for error messages."""

    def __init__(self, root: Any) -> None:
        if _local(root.tag) != "CAEXFile":
            raise ManifestError(_local(root.tag), "root element is not a CAEXFile")
        self.root = root
        found = [
            (element, path)
            for hierarchy in _children(root, "InstanceHierarchy")
            for element, path in _walk(hierarchy, str(hierarchy.get("Name", "?")))
            if _is(element, MODULE_CLASS)
        ]
        if not found:
            raise ManifestError("CAEXFile", "no ModuleTypePackage element")
        self.module_element, self.module_path = found[0]

    def module(self) -> ModuleManifest:
        communication = self._one(self.module_element, self.module_path, COMMUNICATION_SET_CLASS)
        comm_el, comm_path = communication
        instance_el, instance_path = self._one(comm_el, comm_path, INSTANCE_LIST_CLASS)
        source_el, source_path = self._one(comm_el, comm_path, SOURCE_LIST_CLASS)
        endpoint, items = self._items(source_el, source_path)
        assemblies = self._assemblies(instance_el, instance_path)
        service_set_el, service_set_path = self._one(
            self.module_element, self.module_path, SERVICE_SET_CLASS
        )
        services: dict[str, ServiceManifest] = {}
        for element, path in _walk(service_set_el, service_set_path):
            if _is(element, SERVICE_CLASS):
                service = self._service(element, path, assemblies, items)
                if service.name in services:
                    raise ManifestError(path, f"duplicate service name {service.name!r}")
                services[service.name] = service
        process_values: dict[str, ProcessValueManifest] = {}
        for (element, path), attrs in assemblies.values():
            if not _is(element, ANA_VIEW_CLASS):
                continue
            name = str(element.get("Name", ""))
            if name in process_values:
                raise ManifestError(path, f"duplicate process value name {name!r}")
            if not attrs.get("VUnit"):
                raise ManifestError(path, "process value without unit (VUnit)")
            process_values[name] = ProcessValueManifest(
                name=name, unit=attrs["VUnit"], node=self._ref(path, "V", attrs, items)
            )
        return ModuleManifest(
            name=str(self.module_element.get("Name", "")),
            endpoint=endpoint,
            services=services,
            process_values=process_values,
        )

    def _one(self, parent: Any, path: str, class_path: str) -> tuple[Any, str]:
        """The first element of the class below ``parent``, else in any instance hierarchy
        (manifest 1.1.0 keeps each aspect in its own hierarchy, linked from the
        ModuleTypePackage)."""
        for element, child_path in _walk(parent, path):
            if _is(element, class_path):
                return element, child_path
        for hierarchy in _children(self.root, "InstanceHierarchy"):
            for element, child_path in _walk(hierarchy, str(hierarchy.get("Name", "?"))):
                if _is(element, class_path):
                    return element, child_path
        raise ManifestError(path, f"no {class_path.rsplit('/', 1)[-1]} element")

    def _items(self, source: Any, path: str) -> tuple[str, dict[str, NodeRef]]:
        servers = [(e, p) for e, p in _walk(source, path) if _is(e, OPC_SERVER_CLASS)]
        if not servers:
            raise ManifestError(path, "no OPCUAServer element")
        server, server_path = servers[0]
        endpoint = _attributes(server).get("Endpoint", "")
        if not endpoint.startswith("opc.tcp://"):
            raise ManifestError(server_path, f"Endpoint is not an opc.tcp URL: {endpoint!r}")
        items: dict[str, NodeRef] = {}
        for interface in _children(server, "ExternalInterface"):
            item_path = f"{server_path}/{interface.get('Name', '?')}"
            if not _is(interface, OPC_ITEM_CLASS):
                continue
            item_id = str(interface.get("ID", ""))
            attrs = _attributes(interface)
            if not item_id:
                raise ManifestError(item_path, "OPCUAItem without ID")
            if item_id in items:
                raise ManifestError(item_path, f"duplicate ID {item_id!r}")
            if not attrs.get("Identifier") or not attrs.get("Namespace"):
                raise ManifestError(item_path, "OPCUAItem needs Identifier and Namespace")
            items[item_id] = NodeRef(
                namespace=attrs["Namespace"], identifier=_parse_identifier(attrs["Identifier"])
            )
        return endpoint, items

    def _assemblies(
        self, instance_list: Any, path: str
    ) -> dict[str, tuple[tuple[Any, str], dict[str, str]]]:
        result: dict[str, tuple[tuple[Any, str], dict[str, str]]] = {}
        for element, child_path in _walk(instance_list, path):
            element_id = str(element.get("ID", ""))
            if not element_id:
                raise ManifestError(child_path, "data assembly without ID")
            if element_id in result:
                raise ManifestError(child_path, f"duplicate ID {element_id!r}")
            result[element_id] = ((element, child_path), _attributes(element))
        return result

    @staticmethod
    def _ref(
        path: str, name: str, attrs: Mapping[str, str], items: Mapping[str, NodeRef]
    ) -> NodeRef:
        ref = attrs.get(name)
        if not ref:
            raise ManifestError(path, f"{name} is missing")
        if ref not in items:
            raise ManifestError(path, f"{name} RefID {ref!r} points nowhere")
        return items[ref]

    def _variables(
        self,
        path: str,
        attrs: Mapping[str, str],
        items: Mapping[str, NodeRef],
        required: Sequence[str],
    ) -> dict[str, NodeRef]:
        nodes = {
            name: self._ref(path, name, attrs, items)
            for name, value in attrs.items()
            if name not in _STATIC_ATTRIBUTES and value
        }
        for name in required:
            if name not in nodes:
                raise ManifestError(path, f"{name} is missing")
        return nodes

    def _target(
        self,
        element: Any,
        path: str,
        assemblies: Mapping[str, tuple[tuple[Any, str], dict[str, str]]],
        class_path: str,
        what: str,
    ) -> tuple[str, dict[str, str]]:
        ref = _attributes(element).get("RefID", "")
        if not ref:
            raise ManifestError(path, f"no RefID to its {what}")
        if ref not in assemblies:
            raise ManifestError(path, f"RefID {ref!r} points nowhere")
        (target, target_path), attrs = assemblies[ref]
        if not _is(target, class_path):
            raise ManifestError(path, f"RefID {ref!r} is not a {what}")
        return target_path, attrs

    def _service(
        self,
        element: Any,
        path: str,
        assemblies: Mapping[str, tuple[tuple[Any, str], dict[str, str]]],
        items: Mapping[str, NodeRef],
    ) -> ServiceManifest:
        if not _attributes(element).get("RefID"):
            raise ManifestError(path, "service without ServiceControl (no RefID)")
        control_path, control_attrs = self._target(
            element, path, assemblies, SERVICE_CONTROL_CLASS, "ServiceControl"
        )
        control = self._variables(control_path, control_attrs, items, REQUIRED_SERVICE_VARIABLES)
        procedures: dict[str, ProcedureManifest] = {}
        for proc_el in _children(element, "InternalElement"):
            proc_path = f"{path}/{proc_el.get('Name', '?')}"
            if not _is(proc_el, PROCEDURE_CLASS):
                continue
            procedure = self._procedure(proc_el, proc_path, assemblies, items)
            if procedure.name in procedures:
                raise ManifestError(proc_path, f"duplicate procedure name {procedure.name!r}")
            if any(p.procedure_id == procedure.procedure_id for p in procedures.values()):
                raise ManifestError(proc_path, f"duplicate ProcedureId {procedure.procedure_id}")
            procedures[procedure.name] = procedure
        return ServiceManifest(
            name=str(element.get("Name", "")), control=control, procedures=procedures
        )

    def _procedure(
        self,
        element: Any,
        path: str,
        assemblies: Mapping[str, tuple[tuple[Any, str], dict[str, str]]],
        items: Mapping[str, NodeRef],
    ) -> ProcedureManifest:
        attributes = _attributes(element)
        raw_id = attributes.get("ProcedureID", attributes.get("ProcedureId", ""))
        if not raw_id.isdigit() or int(raw_id) == 0:
            raise ManifestError(path, f"ProcedureID must be a positive integer, got {raw_id!r}")
        parameters: dict[str, ParameterManifest] = {}
        for param_el in _children(element, "InternalElement"):
            param_path = f"{path}/{param_el.get('Name', '?')}"
            if not _is(param_el, PROCEDURE_PARAMETER_CLASS):
                continue
            target_path, attrs = self._target(
                param_el, param_path, assemblies, ANA_SERV_PARAM_CLASS, "AnaServParam"
            )
            name = str(param_el.get("Name", ""))
            if name in parameters:
                raise ManifestError(param_path, f"duplicate parameter name {name!r}")
            if not attrs.get("VUnit"):
                raise ManifestError(target_path, "parameter without unit (VUnit)")
            minimum = _number(attrs.get("VMin"), target_path, "VMin")
            maximum = _number(attrs.get("VMax"), target_path, "VMax")
            if minimum > maximum:
                raise ManifestError(target_path, f"VMin {minimum} > VMax {maximum}")
            parameters[name] = ParameterManifest(
                name=name,
                unit=attrs["VUnit"],
                minimum=minimum,
                maximum=maximum,
                nodes=self._variables(target_path, attrs, items, REQUIRED_PARAMETER_VARIABLES),
            )
        return ProcedureManifest(
            name=str(element.get("Name", "")), procedure_id=int(raw_id), parameters=parameters
        )


# --------------------------------------------------------------------------- writing


def _id(module: str, *parts: str) -> str:
    """Deterministic CAEX IDs, so a module's manifest is byte-stable across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "holon-mtp:" + module + "/" + "/".join(parts)))


def _element(parent: Element, name: str, class_path: str, element_id: str) -> Element:
    return SubElement(
        parent,
        "InternalElement",
        {"Name": name, "ID": element_id, "RefBaseSystemUnitPath": class_path},
    )


def _attribute(parent: Element, name: str, value: str, data_type: str = "xs:string") -> None:
    attribute = SubElement(parent, "Attribute", {"Name": name, "AttributeDataType": data_type})
    SubElement(attribute, "Value").text = value


def _number_text(value: float) -> str:
    return repr(float(value))


class _Writer:
    def __init__(self, module: ModuleManifest) -> None:
        self.module = module
        self.items: dict[tuple[NodeRef, str], str] = {}
        self.root = Element(
            "CAEXFile",
            {
                "FileName": f"{module.name}.aml",
                "SchemaVersion": "2.15",
                "xmlns:xsi": XSI_NS,
                "xsi:noNamespaceSchemaLocation": "CAEX_ClassModel_V2.15.xsd",
            },
        )

    def item(self, ref: NodeRef, name: str) -> str:
        key = (ref, name)
        if key not in self.items:
            self.items[key] = _id(self.module.name, "item", name)
        return self.items[key]

    def build(self) -> bytes:
        module = self.module
        SubElement(self.root, "AdditionalInformation", {"AutomationMLVersion": "2.0"})
        SubElement(
            self.root,
            "AdditionalInformation",
            {"ManifestVersion": "1.0.0", "Writer": "Holon MTP writer"},
        )
        hierarchy = SubElement(self.root, "InstanceHierarchy", {"Name": "ModuleTypePackage"})
        pea = _element(hierarchy, module.name, MODULE_CLASS, _id(module.name, "module"))
        comm = _element(pea, "CommunicationSet", COMMUNICATION_SET_CLASS, _id(module.name, "cs"))
        instances = _element(comm, "InstanceList", INSTANCE_LIST_CLASS, _id(module.name, "il"))
        sources = _element(comm, "SourceList", SOURCE_LIST_CLASS, _id(module.name, "sl"))
        service_set = _element(pea, "Services", SERVICE_SET_CLASS, _id(module.name, "ss"))

        for service in module.services.values():
            control_id = _id(module.name, "sc", service.name)
            control = _element(instances, service.name, SERVICE_CONTROL_CLASS, control_id)
            for var, ref in service.control.items():
                key = f"{service.name}.{var}"
                _attribute(control, var, self.item(ref, key), "xs:IDREF")
            service_el = _element(
                service_set, service.name, SERVICE_CLASS, _id(module.name, "srv", service.name)
            )
            _attribute(service_el, "RefID", control_id, "xs:IDREF")
            for procedure in service.procedures.values():
                proc_el = _element(
                    service_el,
                    procedure.name,
                    PROCEDURE_CLASS,
                    _id(module.name, "proc", service.name, procedure.name),
                )
                _attribute(proc_el, "ProcedureID", str(procedure.procedure_id), "xs:unsignedInt")
                _attribute(proc_el, "IsSelfCompleting", "true", "xs:boolean")
                for parameter in procedure.parameters.values():
                    path = (service.name, procedure.name, parameter.name)
                    param_id = _id(module.name, "asp", *path)
                    assembly = _element(instances, ".".join(path), ANA_SERV_PARAM_CLASS, param_id)
                    _attribute(assembly, "VUnit", parameter.unit)
                    _attribute(assembly, "VMin", _number_text(parameter.minimum), "xs:double")
                    _attribute(assembly, "VMax", _number_text(parameter.maximum), "xs:double")
                    for var, ref in parameter.nodes.items():
                        key = ".".join((*path, var))
                        _attribute(assembly, var, self.item(ref, key), "xs:IDREF")
                    param_el = _element(
                        proc_el,
                        parameter.name,
                        PROCEDURE_PARAMETER_CLASS,
                        _id(module.name, "pp", *path),
                    )
                    _attribute(param_el, "RefID", param_id, "xs:IDREF")

        for value in module.process_values.values():
            view = _element(
                instances, value.name, ANA_VIEW_CLASS, _id(module.name, "view", value.name)
            )
            _attribute(view, "VUnit", value.unit)
            _attribute(view, "V", self.item(value.node, f"{value.name}.V"), "xs:IDREF")

        server = _element(sources, "OPCServer", OPC_SERVER_CLASS, _id(module.name, "srv-opc"))
        _attribute(server, "Endpoint", module.endpoint, "xs:anyURI")
        for (ref, name), item_id in self.items.items():
            interface = SubElement(
                server,
                "ExternalInterface",
                {"Name": name, "ID": item_id, "RefBaseClassPath": OPC_ITEM_CLASS},
            )
            _attribute(interface, "Identifier", ref.identifier)
            _attribute(interface, "Namespace", ref.namespace)
            access = "3" if name.rsplit(".", 1)[-1] in _WRITABLE else "1"
            _attribute(interface, "Access", access, "xs:unsignedByte")
        indent(self.root)
        body: bytes = tostring(self.root, "utf-8")
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


_WRITABLE = frozenset(
    {
        "CommandOp",
        "CommandExt",
        "CommandInt",
        "ProcedureOp",
        "ProcedureExt",
        "ProcedureInt",
        "StateOffOp",
        "StateOpOp",
        "StateAutOp",
        "SrcIntOp",
        "SrcExtOp",
        "VOp",
        "VExt",
        "VInt",
        "ApplyOp",
        "ApplyExt",
        "ApplyInt",
    }
)


def write_manifest(module: ModuleManifest) -> bytes:
    """Serialise a module as a CAEX 3.0 / AutomationML document (the ``.aml``)."""
    return _Writer(module).build()


def write_mtp_zip(module: ModuleManifest) -> bytes:
    """The ``.mtp`` package: a zip holding the module's ``.aml``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{module.name}.aml", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, write_manifest(module))
    return buffer.getvalue()
