"""Write Holon's MTP manifests (VDI/VDE/NAMUR 2658-1): AutomationML (CAEX) and ``.mtp``.

Two structures (see :func:`write_manifest`): Holon's own (manifest 1.0.0, CAEX 2.15, no
default namespace, ``xs:IDREF`` links, identifiers typed by ``AttributeDataType``) and the
one engineering tools export (manifest 1.1.0, CAEX 3.0), both with the class names of the
released 2658-4:2022 (``MTPServiceSUCLib/ServiceSet``, ``MTPServiceSUCLib/Service/Procedure``,
``.../ServiceElement/ServiceControl``). IDs are deterministic, so a module's manifest is
byte-stable across runs. The reader (:mod:`mtp_manifest`) reads both back.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Literal
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from mtp_manifest import UNIT_NAMES, ModuleManifest, NodeRef, ParameterManifest

__all__ = ["Structure", "write_manifest", "write_mtp_zip"]


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
CONFIGURATION_PARAMETER_CLASS = "MTPServiceSUCLib/ServiceParameter/ConfigurationParameter"
BIN_VIEW_CLASS = "MTPDataObjectSUCLib/DataAssembly/IndicatorElement/BinView"
ASPECT_REFERENCE_CLASS = "MTPICLib/AspectSetReference"
CAEX_NS = "http://www.dke.de/CAEX"
ID_LINK = "MTPATLib/IDReferenceType/IDLinkAttributeType"
REF_ID = "MTPATLib/IDReferenceType/RefIDAttributeType"

#: The two structures :func:`write_manifest` writes.
Structure = Literal["holon", "vendor"]
#: Unit names back to 2658 unit codes (the vendor structure codes its units).
_UNIT_CODES = {name: code for code, name in UNIT_NAMES.items()}


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
    """One manifest in one of two structures (see :func:`write_manifest`)."""

    def __init__(self, module: ModuleManifest, structure: Structure) -> None:
        self.module = module
        self.vendor = structure == "vendor"
        self.items: dict[tuple[NodeRef, str], str] = {}
        self.root = Element(
            "CAEXFile",
            {"FileName": f"{module.name}.aml", "SchemaVersion": "3.0", "xmlns": CAEX_NS}
            if self.vendor
            else {
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

    def link(self, parent: Element, name: str, item_id: str) -> None:
        """An attribute bound to another element's ID (an OPC UA item)."""
        if self.vendor:
            attrs = {"Name": name, "AttributeDataType": "xs:string", "RefAttributeType": ID_LINK}
            SubElement(SubElement(parent, "Attribute", attrs), "Value").text = item_id
        else:
            _attribute(parent, name, item_id, "xs:IDREF")

    def ref_id(self, parent: Element, value: str, *, identity: bool) -> None:
        """``RefID``: the shared identity (vendor) or the target's element ID (Holon)."""
        if self.vendor:
            attrs = {"Name": "RefID", "AttributeDataType": "xs:string", "RefAttributeType": REF_ID}
            SubElement(SubElement(parent, "Attribute", attrs), "Value").text = value
        elif not identity:
            _attribute(parent, "RefID", value, "xs:IDREF")

    def unit(self, parent: Element, unit: str) -> None:
        code = _UNIT_CODES.get(unit) if self.vendor else None
        if code is None:
            _attribute(parent, "VUnit", unit)
        else:
            _attribute(parent, "VUnit", str(code), "xs:int")

    def assembly(
        self, parent: Element, name: str, class_path: str, *parts: str
    ) -> tuple[Element, str]:
        """A data assembly and the value other aspects link to it by."""
        name_id = _id(self.module.name, *parts)
        element = _element(parent, name, class_path, name_id)
        if not self.vendor:
            return element, name_id
        shared = _id(self.module.name, "refid", *parts)
        self.ref_id(element, shared, identity=True)
        _attribute(element, "TagName", name)
        return element, shared

    def build(self) -> bytes:
        module = self.module
        version = "1.1.0" if self.vendor else "1.0.0"
        SubElement(self.root, "AdditionalInformation", {"AutomationMLVersion": "2.0"})
        SubElement(
            self.root,
            "AdditionalInformation",
            {"ManifestVersion": version, "Writer": "Holon MTP writer"},
        )
        hierarchy = SubElement(
            self.root,
            "InstanceHierarchy",
            {"Name": "ModuleTypePackage", "ID": _id(module.name, "ih-mtp")}
            if self.vendor
            else {"Name": "ModuleTypePackage"},
        )
        pea = _element(hierarchy, module.name, MODULE_CLASS, _id(module.name, "module"))
        if self.vendor:
            _attribute(pea, "Version", version)
        comm = _element(pea, "CommunicationSet", COMMUNICATION_SET_CLASS, _id(module.name, "cs"))
        instances = _element(comm, "InstanceList", INSTANCE_LIST_CLASS, _id(module.name, "il"))
        sources = _element(comm, "SourceList", SOURCE_LIST_CLASS, _id(module.name, "sl"))
        service_set = _element(pea, "Services", SERVICE_SET_CLASS, _id(module.name, "ss"))
        services_parent = service_set
        if self.vendor:
            aspect_id = _id(module.name, "ih-services")
            reference = SubElement(
                service_set,
                "ExternalInterface",
                {
                    "Name": "ServicesAspect",
                    "ID": _id(module.name, "ss-ref"),
                    "RefBaseClassPath": ASPECT_REFERENCE_CLASS,
                },
            )
            _attribute(reference, "AspectRef", aspect_id)
            services_parent = Element("InstanceHierarchy", {"Name": "Services", "ID": aspect_id})

        for service in module.services.values():
            control, control_ref = self.assembly(
                instances, service.name, SERVICE_CONTROL_CLASS, "sc", service.name
            )
            for var, ref in service.control.items():
                self.link(control, var, self.item(ref, f"{service.name}.{var}"))
            service_el = _element(
                services_parent, service.name, SERVICE_CLASS, _id(module.name, "srv", service.name)
            )
            self.ref_id(service_el, control_ref, identity=False)
            for name, parameter in service.configuration.items():
                path = (service.name, name)
                self.parameter(
                    instances, service_el, CONFIGURATION_PARAMETER_CLASS, path, parameter
                )
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
                    self.parameter(
                        instances,
                        proc_el,
                        PROCEDURE_PARAMETER_CLASS,
                        (service.name, procedure.name, parameter.name),
                        parameter,
                    )

        for value in module.process_values.values():
            binary = value.unit == "" and value.unit_node is None
            view, _ = self.assembly(
                instances,
                value.name,
                BIN_VIEW_CLASS if binary else ANA_VIEW_CLASS,
                "view",
                value.name,
            )
            if value.unit_node is not None:
                self.link(view, "VUnit", self.item(value.unit_node, f"{value.name}.VUnit"))
            elif not binary:
                self.unit(view, value.unit)
            self.link(view, "V", self.item(value.node, f"{value.name}.V"))

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
        if services_parent is not service_set:
            self.root.append(services_parent)
        indent(self.root)
        body: bytes = tostring(self.root, "utf-8")
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body

    def parameter(
        self,
        instances: Element,
        owner: Element,
        class_path: str,
        path: tuple[str, ...],
        parameter: ParameterManifest,
    ) -> None:
        """The parameter's data assembly and its element below the procedure/service."""
        assembly, assembly_ref = self.assembly(
            instances, ".".join(path), ANA_SERV_PARAM_CLASS, "asp", *path
        )
        # A live unit or limit is written as a link (it is in ``nodes``).
        if "VUnit" not in parameter.nodes:
            self.unit(assembly, parameter.unit)
        for limit, number in (("VMin", parameter.minimum), ("VMax", parameter.maximum)):
            if number is not None and limit not in parameter.nodes:
                _attribute(assembly, limit, _number_text(number), "xs:double")
        for var, ref in parameter.nodes.items():
            self.link(assembly, var, self.item(ref, ".".join((*path, var))))
        element = _element(owner, parameter.name, class_path, _id(self.module.name, "pp", *path))
        self.ref_id(element, assembly_ref, identity=False)


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


def write_manifest(module: ModuleManifest, *, structure: Structure = "holon") -> bytes:
    """Serialise a module as an AutomationML document (the ``.aml``).

    ``structure="holon"``: manifest 1.0.0 (CAEX 2.15, services inside the ServiceSet,
    ``xs:IDREF`` links, a service's ``RefID`` is its ServiceControl's element ID).
    ``structure="vendor"``: manifest 1.1.0 as engineering tools export it (CAEX 3.0, the
    services in their own hierarchy behind an ``AspectRef``, ``IDLinkAttributeType``
    links, shared ``RefID`` identities, ``TagName``, 2658 unit codes where one exists).
    """
    return _Writer(module, structure).build()


def write_mtp_zip(module: ModuleManifest, *, structure: Structure = "holon") -> bytes:
    """The ``.mtp`` package: a zip holding the module's ``.aml``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{module.name}.aml", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, write_manifest(module, structure=structure))
    return buffer.getvalue()
