"""MTP manifests (VDI/VDE/NAMUR 2658-1): load and write the AutomationML (CAEX) description.

Plug and play means the equipment describes itself. A module's manifest lists its OPC UA
endpoint, its services with their ``ServiceControl`` variables, their procedures with
``ProcedureID`` and parameters (``AnaServParam``), and its process values (``AnaView``).
Reading - of vendor files as much as of Holon's own - is :mod:`mes_runtime.mtp.reader`;
this module unpacks and safely parses the file, and writes Holon's manifests.

Written: manifest 1.0.0 structure (CAEX 2.15, no default namespace, ``xs:IDREF`` links,
identifiers typed by ``AttributeDataType``) with the class names of the released
2658-4:2022 (``MTPServiceSUCLib/ServiceSet``, ``MTPServiceSUCLib/Service/Procedure``,
``.../ServiceElement/ServiceControl``).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, indent, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from mes_runtime.mtp.errors import ManifestError
from mes_runtime.mtp.model import (
    ManifestIssue,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
)
from mes_runtime.mtp.reader import (
    REQUIRED_PARAMETER_VARIABLES,
    REQUIRED_SERVICE_VARIABLES,
    read_document,
)

__all__ = [
    "REQUIRED_PARAMETER_VARIABLES",
    "REQUIRED_SERVICE_VARIABLES",
    "ManifestError",
    "ManifestIssue",
    "ModuleManifest",
    "NodeRef",
    "ParameterManifest",
    "ProcedureManifest",
    "ProcessValueManifest",
    "ServiceManifest",
    "load_manifest",
    "parse_document",
    "write_manifest",
    "write_mtp_zip",
]


# Role/system-unit class paths of the MTP libraries (2658-1 / -4 / -5.1), as written.
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
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PROCEDURE_PARAMETER_CLASS = "MTPServiceSUCLib/ServiceParameter/ProcedureParameter"


# --------------------------------------------------------------------------- reading


def load_manifest(source: bytes | Path) -> ModuleManifest:
    """Parse a ``.aml`` document or a zipped ``.mtp`` package (bytes or a file path).

    Raises :class:`ManifestError` listing every located error; the returned manifest
    carries the reader's warnings in ``issues``."""
    return read_document(parse_document(source))


def parse_document(source: bytes | Path) -> Any:
    """The XML root of a ``.aml`` or ``.mtp`` (safely parsed, bounded), nothing more."""
    data = source.read_bytes() if isinstance(source, Path) else source
    if data[:4] == b"PK\x03\x04":
        data = _aml_from_zip(data)
    try:
        root = SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise ManifestError("", f"not XML: {exc}") from exc
    _check_depth(root)
    return root


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
                completing = "true" if procedure.self_completing else "false"
                _attribute(proc_el, "IsSelfCompleting", completing, "xs:boolean")
                for parameter in procedure.parameters.values():
                    path = (service.name, procedure.name, parameter.name)
                    param_id = _id(module.name, "asp", *path)
                    assembly = _element(instances, ".".join(path), ANA_SERV_PARAM_CLASS, param_id)
                    # A live unit or limit is written as a link (it is in ``nodes``).
                    if "VUnit" not in parameter.nodes:
                        _attribute(assembly, "VUnit", parameter.unit)
                    for limit, number in (("VMin", parameter.minimum), ("VMax", parameter.maximum)):
                        if number is not None and limit not in parameter.nodes:
                            _attribute(assembly, limit, _number_text(number), "xs:double")
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
            if value.unit_node is None:
                _attribute(view, "VUnit", value.unit)
            else:
                unit_item = self.item(value.unit_node, f"{value.name}.VUnit")
                _attribute(view, "VUnit", unit_item, "xs:IDREF")
            _attribute(view, "V", self.item(value.node, f"{value.name}.V"), "xs:IDREF")

        server = _element(sources, "OPCServer", OPC_SERVER_CLASS, _id(module.name, "srv-opc"))
        _attribute(server, "Endpoint", module.endpoint, "xs:anyURI")
        for (ref, name), item_id in self.items.items():
            interface = SubElement(
                server,
                "ExternalInterface",
                {"Name": name, "ID": item_id, "RefBaseClassPath": OPC_ITEM_CLASS},
            )
            _attribute(interface, "Identifier", *_identifier(ref.identifier))
            _attribute(interface, "Namespace", ref.namespace)
            access = "3" if name.rsplit(".", 1)[-1] in _WRITABLE else "1"
            _attribute(interface, "Access", access, "xs:unsignedByte")
        indent(self.root)
        body: bytes = tostring(self.root, "utf-8")
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


#: OPC UA identifier prefix -> the AttributeDataType 2658-1 types it by.
_IDENTIFIER_TYPES = {"s": "xs:string", "i": "xs:unsignedInt", "g": "xs:ID", "b": "xs:base64Binary"}


def _identifier(identifier: str) -> tuple[str, str]:
    """(value, AttributeDataType) of an ``Identifier``: typed as vendors type it."""
    kind, _, value = identifier.partition("=")
    return value, _IDENTIFIER_TYPES[kind]


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
