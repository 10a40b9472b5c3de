"""MTP manifests in the structures vendors' engineering tools export, for tests and benches.

Holon writes its own manifests one way; a plant receives them written other ways. This
builder writes a module description in the two structures found in exported vendor files
and public MTP tooling, so that tests drive the reader (and a PEA on another OPC UA
stack) with files Holon did not write:

* ``"1.1.0"`` - CAEX 3.0 (``http://www.dke.de/CAEX``), the services in their own
  instance hierarchy reached through an ``AspectSetReference``/``AspectRef``, links as
  ``IDLinkAttributeType`` attributes (data type ``xs:string``), shared identities as
  ``RefIDAttributeType`` attributes, GUID IDs;
* ``"1.0.0"`` - CAEX 2.15 without namespace, the services hierarchy named by an
  ``ExternalDataConnector``'s ``refURI``, links as ``xs:IDREF``.

Both use shared ``RefID`` values between a service and its ``ServiceControl`` (not
element IDs), give every data assembly its own ``RefID``, ``TagName`` and
``TagDescription``, code units as 2658 unit numbers, and type each ``Identifier`` by its
``AttributeDataType``. Optional: live ``VMin``/``VMax``/``VUnit`` (OPC UA items instead
of constants) and vendor classes derived from the MTP ones in a ``SystemUnitClassLib``.

The description (:class:`VendorModule`) also tells an OPC UA server which variables to
serve (:func:`variables`), so a test PEA exposes exactly the nodes the manifest declares.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element, SubElement, indent, tostring

__all__ = [
    "SERVICE_VARIABLES",
    "Variable",
    "VendorModule",
    "VendorParameter",
    "VendorProcedure",
    "VendorService",
    "VendorView",
    "build",
    "to_bytes",
    "variables",
]

IdStyle = Literal["string", "numeric", "guid", "opaque"]
Version = Literal["1.0.0", "1.1.0"]

CAEX_NS = "http://www.dke.de/CAEX"
ID_LINK = "MTPATLib/IDReferenceType/IDLinkAttributeType"
REF_ID = "MTPATLib/IDReferenceType/RefIDAttributeType"
_DA = "MTPDataObjectSUCLib/DataAssembly"
SERVICE_CONTROL = f"{_DA}/ServiceElement/ServiceControl"
HEALTH_VIEW = f"{_DA}/ServiceElement/ProcedureHealthView"
ANA_SERV_PARAM = f"{_DA}/ServiceElement/ParameterElement/AnaServParam"
ANA_VIEW = f"{_DA}/IndicatorElement/AnaView"
BIN_VIEW = f"{_DA}/IndicatorElement/BinView"

#: ServiceControl variables as 2658-4 lists them: (name, OPC UA type, writable).
SERVICE_VARIABLES: tuple[tuple[str, str, bool], ...] = (
    ("TagName", "", False),
    ("OSLevel", "Byte", True),
    ("WQC", "Byte", False),
    ("CommandOp", "UInt32", True),
    ("CommandInt", "UInt32", True),
    ("CommandExt", "UInt32", True),
    ("ProcedureOp", "UInt32", True),
    ("ProcedureInt", "UInt32", True),
    ("ProcedureExt", "UInt32", True),
    ("StateCur", "UInt32", False),
    ("CommandEn", "UInt32", False),
    ("ProcedureCur", "UInt32", False),
    ("ProcedureReq", "UInt32", False),
    ("PosTextID", "UInt32", False),
    ("InteractQuestionID", "UInt32", False),
    ("InteractAnswerID", "UInt32", True),
    ("StateChannel", "Boolean", False),
    ("StateOffAut", "Boolean", True),
    ("StateOpAut", "Boolean", True),
    ("StateAutAut", "Boolean", True),
    ("StateOffOp", "Boolean", True),
    ("StateOpOp", "Boolean", True),
    ("StateAutOp", "Boolean", True),
    ("StateOpAct", "Boolean", False),
    ("StateAutAct", "Boolean", False),
    ("StateOffAct", "Boolean", False),
    ("SrcChannel", "Boolean", False),
    ("SrcExtAut", "Boolean", True),
    ("SrcIntOp", "Boolean", True),
    ("SrcIntAut", "Boolean", True),
    ("SrcExtOp", "Boolean", True),
    ("SrcIntAct", "Boolean", False),
    ("SrcExtAct", "Boolean", False),
)
#: AnaServParam variables: (name, OPC UA type, writable); VMin/VMax/VUnit are added when live.
PARAMETER_VARIABLES: tuple[tuple[str, str, bool], ...] = (
    ("WQC", "Byte", False),
    ("VOp", "Float", True),
    ("VInt", "Float", True),
    ("VExt", "Float", True),
    ("VReq", "Float", False),
    ("VOut", "Float", False),
    ("VFbk", "Float", False),
    ("ApplyEn", "Boolean", False),
    ("ApplyExt", "Boolean", True),
    ("ApplyOp", "Boolean", True),
    ("ApplyInt", "Boolean", True),
    ("SrcExtAct", "Boolean", False),
    ("SrcIntAct", "Boolean", False),
)
_LIVE_RANGE: tuple[tuple[str, str, bool], ...] = (
    ("VMin", "Float", False),
    ("VMax", "Float", False),
    ("VUnit", "Int32", False),
)


@dataclass(frozen=True)
class VendorParameter:
    name: str
    unit_code: int
    minimum: float
    maximum: float
    default: float = 0.0


@dataclass(frozen=True)
class VendorProcedure:
    name: str
    procedure_id: int
    self_completing: bool
    parameters: tuple[VendorParameter, ...] = ()
    #: seconds of Execute before a self-completing procedure completes
    duration: float = 0.5


@dataclass(frozen=True)
class VendorService:
    name: str
    procedures: tuple[VendorProcedure, ...]


@dataclass(frozen=True)
class VendorView:
    name: str
    unit_code: int | None  # None: a BinView
    value: float = 0.0


@dataclass(frozen=True)
class VendorModule:
    """One PEA: what it offers and how its manifest and address space are laid out."""

    name: str
    endpoint: str
    namespace_uri: str
    services: tuple[VendorService, ...]
    views: tuple[VendorView, ...] = ()
    version: Version = "1.1.0"
    id_style: IdStyle = "string"
    live_ranges: bool = False
    vendor_classes: bool = False
    first_numeric_id: int = 6001


@dataclass(frozen=True)
class Variable:
    """One OPC UA variable the PEA serves and the manifest declares."""

    key: str  # "<assembly>.<variable>", e.g. "Stirring.StateCur"
    identifier: str  # typed: "s=..", "i=..", "g=..", "b=.."
    data_type: str  # OPC UA built-in type name
    writable: bool
    initial: float | bool | int


def _guid(module: VendorModule, *parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "vendor-mtp:" + module.name + "/" + "/".join(parts)))


def _assemblies(module: VendorModule) -> Iterator[tuple[str, tuple[tuple[str, str, bool], ...]]]:
    """(assembly name, its OPC UA variables) in manifest order."""
    for service in module.services:
        yield service.name, SERVICE_VARIABLES[1:]
        for procedure in service.procedures:
            for parameter in procedure.parameters:
                extra = _LIVE_RANGE if module.live_ranges else ()
                yield _parameter_tag(service, procedure, parameter), PARAMETER_VARIABLES + extra
    for view in module.views:
        if view.unit_code is None:
            yield view.name, (("V", "Boolean", False), ("WQC", "Byte", False))
        else:
            unit = (("VUnit", "Int32", False),) if module.live_ranges else ()
            yield view.name, (("V", "Float", False), ("WQC", "Byte", False), *unit)


def _parameter_tag(service: VendorService, procedure: VendorProcedure, p: VendorParameter) -> str:
    return f"{service.name}_{procedure.name}_{p.name}"


def _initial(
    module: VendorModule, assembly: str, variable: str, data_type: str
) -> float | bool | int:
    for service in module.services:
        for procedure in service.procedures:
            for p in procedure.parameters:
                if _parameter_tag(service, procedure, p) == assembly:
                    live = {"VMin": p.minimum, "VMax": p.maximum, "VUnit": p.unit_code}
                    if variable in live:
                        return live[variable]
                    if variable in ("VOut", "VReq", "VFbk", "VExt", "VOp", "VInt"):
                        return p.default
    for view in module.views:
        if view.name == assembly:
            if variable == "VUnit":
                return view.unit_code or 0
            if variable == "V":
                return bool(view.value) if view.unit_code is None else view.value
    if variable == "StateCur":
        return 16
    if variable == "WQC":
        return 0xFF
    if variable == "StateOffAct":
        return True
    return {"Boolean": False, "Float": 0.0}.get(data_type, 0)


def variables(module: VendorModule) -> list[Variable]:
    """Every OPC UA variable of the PEA, with its typed identifier."""
    result: list[Variable] = []
    number = module.first_numeric_id
    for assembly, names in _assemblies(module):
        for name, data_type, writable in names:
            key = f"{assembly}.{name}"
            text = f"{module.name}.{key}"
            identifier = {
                "string": f"s={text}",
                "numeric": f"i={number}",
                "guid": f"g={uuid.uuid5(uuid.NAMESPACE_URL, text)}",
                "opaque": "b=" + base64.b64encode(text.encode()).decode(),
            }[module.id_style]
            number += 1
            initial = _initial(module, assembly, name, data_type)
            result.append(Variable(key, identifier, data_type, writable, initial))
    return result


_IDENTIFIER_TYPES = {"s": "xs:string", "i": "xs:unsignedInt", "g": "xs:ID", "b": "xs:base64Binary"}


class _Builder:
    def __init__(self, module: VendorModule) -> None:
        self.module = module
        self.new = module.version == "1.1.0"
        self.items: dict[str, str] = {}  # variable key -> item ID
        self.root = Element(
            "CAEXFile",
            {"SchemaVersion": "3.0", "FileName": f"{module.name}.aml", "xmlns": CAEX_NS}
            if self.new
            else {
                "SchemaVersion": "2.15",
                "FileName": f"{module.name}.aml",
                "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                "xsi:noNamespaceSchemaLocation": "CAEX_ClassModel_V2.15.xsd",
            },
        )

    def guid(self, *parts: str) -> str:
        return _guid(self.module, *parts)

    def element(self, parent: Element, name: str, cls: str, *parts: str) -> Element:
        return SubElement(
            parent,
            "InternalElement",
            {"Name": name, "ID": self.guid(*parts or (name,)), "RefBaseSystemUnitPath": cls},
        )

    @staticmethod
    def constant(parent: Element, name: str, value: str, data_type: str = "xs:string") -> None:
        attribute = SubElement(parent, "Attribute", {"Name": name, "AttributeDataType": data_type})
        SubElement(attribute, "Value").text = value

    def link(self, parent: Element, name: str, item_id: str) -> None:
        attrs = (
            {"Name": name, "AttributeDataType": "xs:string", "RefAttributeType": ID_LINK}
            if self.new
            else {"Name": name, "AttributeDataType": "xs:IDREF"}
        )
        attribute = SubElement(parent, "Attribute", attrs)
        SubElement(attribute, "DefaultValue").text = ""
        SubElement(attribute, "Value").text = item_id

    def ref_id(self, parent: Element, value: str) -> None:
        attrs = (
            {"Name": "RefID", "AttributeDataType": "xs:string", "RefAttributeType": REF_ID}
            if self.new
            else {"Name": "RefID", "AttributeDataType": "xs:ID"}
        )
        attribute = SubElement(parent, "Attribute", attrs)
        SubElement(attribute, "Value").text = value

    def cls(self, standard: str, vendor_name: str) -> str:
        return f"HC_Lib/{vendor_name}" if self.module.vendor_classes else standard

    def build(self) -> Element:
        m = self.module
        SubElement(self.root, "AdditionalInformation", {"AutomationMLVersion": "2.0"})
        if m.vendor_classes:
            library = SubElement(self.root, "SystemUnitClassLib", {"Name": "HC_Lib"})
            for name, base in (
                ("HC_ServiceControl", SERVICE_CONTROL),
                ("HC_Parameter", "HC_Lib/HC_ParameterBase"),
                ("HC_ParameterBase", ANA_SERV_PARAM),
                ("HC_AnaView", ANA_VIEW),
            ):
                SubElement(
                    library,
                    "SystemUnitClass",
                    {"Name": name, "ID": self.guid("class", name), "RefBaseClassPath": base},
                )
        manifest = SubElement(
            self.root, "InstanceHierarchy", {"Name": "ModuleTypePackage", "ID": self.guid("ih-mtp")}
        )
        pea = self.element(manifest, m.name, "MTPSUCLib/ModuleTypePackage", "pea")
        self.constant(pea, "Version", m.version)
        comm = self.element(pea, "Communication", "MTPSUCLib/CommunicationSet", "cs")
        instances = self.element(
            comm, "InstanceList", "MTPSUCLib/CommunicationSet/InstanceList", "il"
        )
        sources = self.element(comm, "SourceList", "MTPSUCLib/CommunicationSet/SourceList", "sl")
        server = self.element(
            sources, "PLC_OPCUA", "MTPCommunicationSUCLib/ServerAssembly/OPCUAServer", "server"
        )
        self.constant(server, "Endpoint", m.endpoint, "xs:anyURI")
        for variable in variables(m):
            item_id = self.guid("item", variable.key)
            self.items[variable.key] = item_id
            interface = SubElement(
                server,
                "ExternalInterface",
                {
                    "Name": variable.key,
                    "ID": item_id,
                    "RefBaseClassPath": "MTPCommunicationICLib/DataItem/OPCUAItem",
                },
            )
            kind, _, value = variable.identifier.partition("=")
            self.constant(interface, "Identifier", value, _IDENTIFIER_TYPES[kind])
            self.constant(interface, "Namespace", m.namespace_uri)
            self.constant(interface, "Access", "3" if variable.writable else "1", "xs:unsignedByte")

        services_ih = Element(
            "InstanceHierarchy", {"Name": "Services", "ID": self.guid("ih-services")}
        )
        service_set = self.element(pea, "Services", "MTPServiceSUCLib/ServiceSet", "ss")
        if self.new:
            reference = SubElement(
                service_set,
                "ExternalInterface",
                {
                    "Name": "ServicesRef",
                    "ID": self.guid("ss-ref"),
                    "RefBaseClassPath": "MTPICLib/AspectSetReference",
                },
            )
            self.constant(reference, "AspectRef", self.guid("ih-services"))
        else:
            reference = SubElement(
                service_set,
                "ExternalInterface",
                {
                    "Name": "ServiceReference",
                    "ID": self.guid("ss-ref"),
                    "RefBaseClassPath": (
                        "AutomationMLInterfaceClassLib/AutomationMLBaseInterface/"
                        "ExternalDataConnector"
                    ),
                },
            )
            self.constant(reference, "refURI", "Services/", "xs:anyURI")

        for service in m.services:
            shared = self.guid("refid", service.name)
            control = self.element(
                instances,
                service.name,
                self.cls(SERVICE_CONTROL, "HC_ServiceControl"),
                "da",
                service.name,
            )
            self.assembly_header(control, shared, service.name)
            for name, _, _ in SERVICE_VARIABLES[1:]:
                self.link(control, name, self.items[f"{service.name}.{name}"])
            service_el = self.element(
                services_ih, service.name, "MTPServiceSUCLib/Service", "svc", service.name
            )
            self.ref_id(service_el, shared)
            for procedure in service.procedures:
                health = self.guid("refid", service.name, procedure.name)
                view = self.element(
                    instances,
                    f"{service.name}_{procedure.name}",
                    HEALTH_VIEW,
                    "hv",
                    service.name,
                    procedure.name,
                )
                self.assembly_header(view, health, procedure.name)
                proc_el = self.element(
                    service_el,
                    procedure.name,
                    "MTPServiceSUCLib/Service/Procedure",
                    "proc",
                    service.name,
                    procedure.name,
                )
                self.ref_id(proc_el, health)
                self.constant(proc_el, "ProcedureID", str(procedure.procedure_id), "xs:unsignedInt")
                self.constant(
                    proc_el,
                    "IsSelfCompleting",
                    "True" if procedure.self_completing else "False",
                    "xs:boolean",
                )
                self.constant(proc_el, "IsDefault", "False", "xs:boolean")
                for parameter in procedure.parameters:
                    tag = _parameter_tag(service, procedure, parameter)
                    param_ref = self.guid("refid", tag)
                    assembly = self.element(
                        instances, tag, self.cls(ANA_SERV_PARAM, "HC_Parameter"), "da", tag
                    )
                    self.assembly_header(assembly, param_ref, tag)
                    if m.live_ranges:
                        for name in ("VMin", "VMax", "VUnit"):
                            self.link(assembly, name, self.items[f"{tag}.{name}"])
                    else:
                        self.constant(assembly, "VUnit", str(parameter.unit_code), "xs:int")
                        self.constant(assembly, "VMin", repr(parameter.minimum), "xs:float")
                        self.constant(assembly, "VMax", repr(parameter.maximum), "xs:float")
                    for name, _, _ in PARAMETER_VARIABLES:
                        self.link(assembly, name, self.items[f"{tag}.{name}"])
                    param_el = self.element(
                        proc_el,
                        parameter.name,
                        "MTPServiceSUCLib/ServiceParameter/ProcedureParameter",
                        "pp",
                        tag,
                    )
                    self.ref_id(param_el, param_ref)
        for shown in m.views:
            cls = BIN_VIEW if shown.unit_code is None else self.cls(ANA_VIEW, "HC_AnaView")
            view_el = self.element(instances, shown.name, cls, "da", shown.name)
            self.assembly_header(view_el, self.guid("refid", shown.name), shown.name)
            self.link(view_el, "V", self.items[f"{shown.name}.V"])
            self.link(view_el, "WQC", self.items[f"{shown.name}.WQC"])
            if shown.unit_code is not None:
                if m.live_ranges:
                    self.link(view_el, "VUnit", self.items[f"{shown.name}.VUnit"])
                else:
                    self.constant(view_el, "VUnit", str(shown.unit_code), "xs:int")
        self.root.append(services_ih)
        return self.root

    def assembly_header(self, element: Element, ref: str, tag: str) -> None:
        self.ref_id(element, ref)
        self.constant(element, "TagName", tag)
        self.constant(element, "TagDescription", f"{tag} of {self.module.name}")


def build(module: VendorModule) -> Element:
    """The manifest as an element tree (tests mutate it to make malformed variants)."""
    return _Builder(module).build()


def to_bytes(root: Element) -> bytes:
    """Serialise a tree from :func:`build` (namespaced 1.1.0 trees keep their xmlns)."""
    indent(root)
    body: bytes = tostring(root, "utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
