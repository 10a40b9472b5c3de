"""Manifests as vendors write them: every structural variant reads completely, and every
malformed or unsupported construct is reported with its location - never dropped."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import pytest

from holon_testing.vendor_mtp import (
    VendorModule,
    VendorParameter,
    VendorProcedure,
    VendorService,
    VendorView,
    build,
    to_bytes,
    variables,
)
from mes_runtime.mtp.capabilities import capabilities_of
from mes_runtime.mtp.errors import ManifestError
from mes_runtime.mtp.manifest import load_manifest
from mtp_manifest import ManifestIssue, ModuleManifest

STIRRER = VendorModule(
    name="HC30",
    endpoint="opc.tcp://127.0.0.1:4999",
    namespace_uri="urn:vendor:hc30:plc",
    services=(
        VendorService(
            "Stirring",
            (
                VendorProcedure("Stir", 1, False, (VendorParameter("Speed", 1083, 0.0, 1500.0),)),
                VendorProcedure(
                    "Pulse",
                    2,
                    True,
                    (
                        VendorParameter("Speed", 1083, 50.0, 800.0),
                        VendorParameter("Time", 1054, 1.0, 60.0),
                    ),
                ),
            ),
        ),
        VendorService("Tempering", (VendorProcedure("Hold", 1, False, ()),)),
    ),
    views=(VendorView("TI101", 1001, 21.5), VendorView("LS101", None)),
)


def read(module: VendorModule) -> ModuleManifest:
    return load_manifest(to_bytes(build(module)))


# --------------------------------------------------------------------------- variants

VARIANTS = [
    pytest.param(version, style, live, classes, id=f"{version}-{style}-{kind}-{cls}")
    for version in ("1.0.0", "1.1.0")
    for style in ("string", "numeric", "guid", "opaque")
    for live, kind in ((False, "constant-ranges"), (True, "live-ranges"))
    for classes, cls in ((False, "mtp-classes"), (True, "vendor-classes"))
]


@pytest.mark.parametrize(("version", "style", "live", "classes"), VARIANTS)
def test_every_variant_reads_everything_declared(
    version: str, style: str, live: bool, classes: bool
) -> None:
    module = replace(
        STIRRER, version=version, id_style=style, live_ranges=live, vendor_classes=classes
    )
    manifest = read(module)

    assert manifest.issues == ()
    assert (manifest.name, manifest.endpoint, manifest.version) == (
        "HC30",
        "opc.tcp://127.0.0.1:4999",
        version,
    )
    assert {s: sorted(m.procedures) for s, m in manifest.services.items()} == {
        "Stirring": ["Pulse", "Stir"],
        "Tempering": ["Hold"],
    }
    stirring = manifest.services["Stirring"]
    assert {(p.name, p.procedure_id, p.self_completing) for p in stirring.procedures.values()} == {
        ("Stir", 1, False),
        ("Pulse", 2, True),
    }
    pulse = stirring.procedures["Pulse"].parameters
    if live:
        for parameter in pulse.values():
            assert (parameter.unit, parameter.minimum, parameter.maximum) == ("", None, None)
            assert {"VMin", "VMax", "VUnit"} <= set(parameter.nodes)
        assert manifest.process_values["TI101"].unit_node is not None
    else:
        assert (pulse["Speed"].unit, pulse["Speed"].minimum, pulse["Speed"].maximum) == (
            "rpm",
            50.0,
            800.0,
        )
        assert (pulse["Time"].unit, pulse["Time"].minimum, pulse["Time"].maximum) == (
            "s",
            1.0,
            60.0,
        )
        assert manifest.process_values["TI101"].unit == "degC"
    assert manifest.process_values["LS101"].unit == ""
    # Every declared variable is bound to exactly the node the PEA serves, typed as declared.
    served = {v.key: v.identifier for v in variables(module)}
    declared = manifest.nodes()
    prefix = {"string": "s=", "numeric": "i=", "guid": "g=", "opaque": "b="}[style]
    assert all(ref.identifier.startswith(prefix) for ref in declared.values())
    assert all(ref.namespace == "urn:vendor:hc30:plc" for ref in declared.values())
    assert declared["Stirring.StateCur"].identifier == served["Stirring.StateCur"]
    assert declared["Stirring/Pulse/Time.VExt"].identifier == served["Stirring_Pulse_Time.VExt"]
    assert declared["TI101.V"].identifier == served["TI101.V"]
    # TagName / TagDescription / RefID of a data assembly are not variables.
    assert not {"TagName", "TagDescription", "RefID"} & set(stirring.control)


def test_numeric_identifier_keeps_its_number() -> None:
    manifest = read(replace(STIRRER, id_style="numeric", first_numeric_id=6001))
    assert manifest.services["Stirring"].control["OSLevel"].identifier == "i=6001"
    assert manifest.services["Stirring"].control["OSLevel"].node_id(
        ["http://opcfoundation.org/UA/", "urn:vendor:hc30:plc"]
    ) == ("ns=1;i=6001")


# --------------------------------------------------------------------------- malformed

Mutation = Callable[[Element], None]


def named(root: Element, name: str, tag: str = "InternalElement") -> Element:
    found = [e for e in root.iter(tag) if e.get("Name") == name]
    assert len(found) == 1, (name, len(found))
    return found[0]


def attribute(element: Element, name: str) -> Element:
    found = next((a for a in element.findall("Attribute") if a.get("Name") == name), None)
    assert found is not None, name
    return found


def set_value(element: Element, name: str, value: str, **meta: str) -> None:
    target = attribute(element, name)
    value_el = target.find("Value")
    assert value_el is not None
    value_el.text = value
    for key, text in meta.items():
        target.set(key, text)


def drop(parent: Element, child: Element) -> None:
    parent.remove(child)


def item(root: Element, key: str) -> Element:
    return named(root, key, "ExternalInterface")


def service_set(root: Element) -> Element:
    return next(e for e in root.iter("InternalElement") if e.get("Name") == "Services")


def services_hierarchy(root: Element) -> Element:
    return next(e for e in root.iter("InstanceHierarchy") if e.get("Name") == "Services")


def stir(root: Element) -> Element:
    return named(services_hierarchy(root), "Stir")


def add_child(parent: Element, name: str, cls: str, **attrs: str) -> Element:
    child = SubElement(
        parent,
        "InternalElement",
        {"Name": name, "ID": str(uuid.uuid4()), "RefBaseSystemUnitPath": cls},
    )
    for key, value in attrs.items():
        SubElement(SubElement(child, "Attribute", {"Name": key}), "Value").text = value
    return child


def instance_list(root: Element) -> Element:
    return named(root, "InstanceList")


def cyclic_vendor_class(root: Element) -> None:
    library = SubElement(root, "SystemUnitClassLib", {"Name": "Loop"})
    SubElement(library, "SystemUnitClass", {"Name": "A", "RefBaseClassPath": "Loop/B"})
    SubElement(library, "SystemUnitClass", {"Name": "B", "RefBaseClassPath": "Loop/A"})
    named(instance_list(root), "Stirring").set("RefBaseSystemUnitPath", "Loop/A")


def remove_is_self_completing(root: Element) -> None:
    drop(stir(root), attribute(stir(root), "IsSelfCompleting"))


def remove_service_set(root: Element) -> None:
    module = named(root, "HC30")
    module.remove(service_set(root))


def remove_item_id(root: Element) -> None:
    del item(root, "Stirring.WQC").attrib["ID"]


def duplicate_ref_id(root: Element) -> None:
    shared = attribute(named(instance_list(root), "Stirring"), "RefID").findtext("Value") or ""
    set_value(named(instance_list(root), "TI101"), "RefID", shared)


def foreign_interface(root: Element) -> None:
    SubElement(
        named(root, "PLC_OPCUA"),
        "ExternalInterface",
        {"Name": "ModbusReg", "ID": "m1", "RefBaseClassPath": "VendorICLib/ModbusItem"},
    )


def constant_state(root: Element) -> None:
    set_value(
        named(instance_list(root), "Stirring"),
        "StateCur",
        "16",
        AttributeDataType="xs:unsignedInt",
        RefAttributeType="",
    )


BIN_PARAM = "MTPDataObjectSUCLib/DataAssembly/ServiceElement/ParameterElement/BinServParam"
MALFORMED: list[Any] = [
    # (id, version, mutation, severity, path fragment, problem fragment)
    (
        "dangling AspectRef",
        "1.1.0",
        lambda r: set_value(named(r, "ServicesRef", "ExternalInterface"), "AspectRef", "x-1"),
        "error",
        "HC30/Services/ServicesRef",
        "points to no InstanceHierarchy",
    ),
    (
        "dangling refURI",
        "1.0.0",
        lambda r: set_value(named(r, "ServiceReference", "ExternalInterface"), "refURI", "Gone/"),
        "error",
        "HC30/Services/ServiceReference",
        "'Gone' points to no InstanceHierarchy",
    ),
    (
        "service RefID points nowhere",
        "1.1.0",
        lambda r: set_value(named(services_hierarchy(r), "Stirring"), "RefID", "nowhere"),
        "error",
        "Services/Stirring",
        "RefID 'nowhere' points nowhere",
    ),
    (
        "service RefID names a view",
        "1.1.0",
        lambda r: set_value(
            named(services_hierarchy(r), "Stirring"),
            "RefID",
            attribute(named(instance_list(r), "TI101"), "RefID").findtext("Value") or "",
        ),
        "error",
        "Services/Stirring",
        "is not a ServiceControl",
    ),
    (
        "ID link points nowhere",
        "1.1.0",
        lambda r: set_value(named(instance_list(r), "Stirring"), "StateCur", "no-such-item"),
        "error",
        "InstanceList/Stirring",
        "StateCur links to 'no-such-item', which is no OPC UA item",
    ),
    (
        "required variable is a constant",
        "1.1.0",
        constant_state,
        "error",
        "InstanceList/Stirring",
        "StateCur is a constant, not linked",
    ),
    (
        "numeric identifier is not a number",
        "1.1.0",
        lambda r: set_value(
            item(r, "Stirring.StateCur"), "Identifier", "abc", AttributeDataType="xs:int"
        ),
        "error",
        "PLC_OPCUA/Stirring.StateCur",
        "numeric Identifier 'abc' is not a UInt32",
    ),
    (
        "GUID identifier is not a GUID",
        "1.0.0",
        lambda r: set_value(
            item(r, "Stirring.StateCur"), "Identifier", "zz", AttributeDataType="xs:ID"
        ),
        "error",
        "PLC_OPCUA/Stirring.StateCur",
        "GUID Identifier 'zz' is not a GUID",
    ),
    (
        "opaque identifier is not base64",
        "1.1.0",
        lambda r: set_value(
            item(r, "Stirring.StateCur"), "Identifier", "*!", AttributeDataType="xs:base64Binary"
        ),
        "error",
        "PLC_OPCUA/Stirring.StateCur",
        "is not base64",
    ),
    (
        "unknown identifier type",
        "1.1.0",
        lambda r: set_value(
            item(r, "Stirring.StateCur"), "Identifier", "0a", AttributeDataType="xs:hexBinary"
        ),
        "error",
        "PLC_OPCUA/Stirring.StateCur",
        "is not an OPC UA identifier type",
    ),
    (
        "item without ID",
        "1.1.0",
        remove_item_id,
        "error",
        "PLC_OPCUA/Stirring.WQC",
        "OPCUAItem without ID",
    ),
    (
        "IsSelfCompleting is not a boolean",
        "1.1.0",
        lambda r: set_value(stir(r), "IsSelfCompleting", "maybe"),
        "error",
        "Services/Stirring/Stir",
        "IsSelfCompleting is not a boolean",
    ),
    (
        "ProcedureID zero",
        "1.0.0",
        lambda r: set_value(stir(r), "ProcedureID", "0"),
        "error",
        "Services/Stirring/Stir",
        "ProcedureID must be a positive integer",
    ),
    (
        "VMin is not a number",
        "1.1.0",
        lambda r: set_value(named(instance_list(r), "Stirring_Stir_Speed"), "VMin", "low"),
        "error",
        "InstanceList/Stirring_Stir_Speed",
        "VMin is not a number: 'low'",
    ),
    (
        "VMin above VMax",
        "1.1.0",
        lambda r: set_value(named(instance_list(r), "Stirring_Stir_Speed"), "VMin", "2000"),
        "error",
        "InstanceList/Stirring_Stir_Speed",
        "VMin 2000.0 > VMax 1500.0",
    ),
    (
        "duplicate RefID",
        "1.1.0",
        duplicate_ref_id,
        "error",
        "InstanceList/",
        "duplicate RefID",
    ),
    (
        "cyclic vendor class",
        "1.1.0",
        cyclic_vendor_class,
        "error",
        "Services/Stirring",
        "is not a ServiceControl (class Loop/A)",
    ),
    (
        "IsSelfCompleting not declared",
        "1.1.0",
        remove_is_self_completing,
        "warning",
        "Services/Stirring/Stir",
        "IsSelfCompleting is not declared",
    ),
    (
        "unknown unit code",
        "1.1.0",
        lambda r: set_value(named(instance_list(r), "Stirring_Stir_Speed"), "VUnit", "9999"),
        "warning",
        "InstanceList/Stirring_Stir_Speed",
        "VUnit code 9999 is not a 2658 unit code",
    ),
    (
        "binary parameter",
        "1.1.0",
        lambda r: named(instance_list(r), "Stirring_Stir_Speed").set(
            "RefBaseSystemUnitPath", BIN_PARAM
        ),
        "warning",
        "Services/Stirring/Stir/Speed",
        "BinServParam is not supported",
    ),
    (
        "report value",
        "1.1.0",
        lambda r: add_child(stir(r), "Torque", "MTPServiceSUCLib/ServiceParameter/ReportValue"),
        "warning",
        "Services/Stirring/Stir/Torque",
        "is not interpreted",
    ),
    (
        "unused data assembly",
        "1.0.0",
        lambda r: add_child(
            instance_list(r), "M101", "MTPDataObjectSUCLib/DataAssembly/ActiveElement/MonBinDrv"
        ),
        "warning",
        "InstanceList/M101",
        "MonBinDrv is not used",
    ),
    (
        "no ServiceSet",
        "1.1.0",
        remove_service_set,
        "warning",
        "ModuleTypePackage/HC30",
        "no ServiceSet",
    ),
    (
        "interface of another protocol",
        "1.1.0",
        foreign_interface,
        "warning",
        "PLC_OPCUA/ModbusReg",
        "is not an OPCUAItem",
    ),
]


def matching(
    issues: tuple[Any, ...], severity: str, path: str, problem: str
) -> list[ManifestIssue]:
    return [
        i
        for i in issues
        if isinstance(i, ManifestIssue)
        and i.severity == severity
        and path in i.path
        and problem in i.problem
    ]


@pytest.mark.parametrize(
    ("version", "mutation", "severity", "path", "problem"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_constructs_are_located(
    version: str, mutation: Mutation, severity: str, path: str, problem: str
) -> None:
    root = build(replace(STIRRER, version=version))  # type: ignore[arg-type]
    mutation(root)
    data = to_bytes(root)
    if severity == "error":
        with pytest.raises(ManifestError) as caught:
            load_manifest(data)
        found = matching(caught.value.issues, severity, path, problem)
        assert found, caught.value.issues
        assert problem in str(caught.value) or any(problem in str(i) for i in caught.value.issues)
    else:
        manifest = load_manifest(data)
        assert matching(manifest.issues, severity, path, problem), manifest.issues


def test_located_issues_carry_the_element_id() -> None:
    root = build(STIRRER)
    service = named(services_hierarchy(root), "Stirring")
    set_value(service, "RefID", "nowhere")
    with pytest.raises(ManifestError) as caught:
        load_manifest(to_bytes(root))
    assert caught.value.element_id == service.get("ID")


def test_every_error_is_reported_not_only_the_first() -> None:
    root = build(STIRRER)
    set_value(named(instance_list(root), "Stirring_Stir_Speed"), "VMin", "low")
    set_value(named(services_hierarchy(root), "Tempering"), "RefID", "nowhere")
    with pytest.raises(ManifestError) as caught:
        load_manifest(to_bytes(root))
    problems = [i.problem for i in caught.value.issues if i.severity == "error"]
    assert any("VMin is not a number" in p for p in problems)
    assert any("points nowhere" in p for p in problems)
    assert "VMin is not a number" in str(caught.value)
    assert "points nowhere" in str(caught.value)


def test_without_service_set_the_module_has_no_services() -> None:
    root = build(STIRRER)
    remove_service_set(root)
    manifest = load_manifest(to_bytes(root))
    assert manifest.services == {}
    assert sorted(manifest.process_values) == ["LS101", "TI101"]


def test_unknown_unit_code_is_named_not_guessed() -> None:
    root = build(STIRRER)
    set_value(named(instance_list(root), "Stirring_Stir_Speed"), "VUnit", "9999")
    manifest = load_manifest(to_bytes(root))
    speed = manifest.services["Stirring"].procedures["Stir"].parameters["Speed"]
    assert speed.unit == "unit code 9999"


def test_capabilities_carry_ranges_units_and_self_completion() -> None:
    offer = capabilities_of(read(STIRRER))
    stir = offer.find("Stirring", "Stir")
    pulse = offer.find("Stirring", "Pulse")
    assert stir is not None
    assert pulse is not None
    assert (stir.self_completing, pulse.self_completing) == (False, True)
    speed = stir.parameter("Speed")
    assert speed is not None
    assert (speed.unit, speed.low, speed.high) == ("rpm", 0.0, 1500.0)
    live = capabilities_of(read(replace(STIRRER, live_ranges=True))).find("Stirring", "Stir")
    assert live is not None
    live_speed = live.parameter("Speed")
    assert live_speed is not None
    assert (live_speed.low, live_speed.high) == (None, None)  # read from the module, not guessed
    assert offer.process_value("TI101") is not None


def drop_attribute(element: Element, name: str) -> None:
    element.remove(attribute(element, name))


def test_automatic_channel_requests_stand_in_for_operator_ones() -> None:
    root = build(STIRRER)
    control = named(instance_list(root), "Stirring")
    for name in ("StateOpOp", "StateAutOp", "SrcExtOp"):
        drop_attribute(control, name)
    stirring = load_manifest(to_bytes(root)).services["Stirring"].control
    assert {"StateOpAut", "StateAutAut", "SrcExtAut"} <= set(stirring)
    assert not {"StateOpOp", "StateAutOp", "SrcExtOp"} & set(stirring)


def test_a_mode_request_on_neither_channel_is_an_error() -> None:
    root = build(STIRRER)
    control = named(instance_list(root), "Stirring")
    drop_attribute(control, "StateAutOp")
    drop_attribute(control, "StateAutAut")
    with pytest.raises(ManifestError, match="StateAutOp is missing") as caught:
        load_manifest(to_bytes(root))
    assert caught.value.path.endswith("InstanceList/Stirring")


_DA = "MTPDataObjectSUCLib/DataAssembly"


def integer_parameter(root: Element) -> None:
    named(instance_list(root), "Stirring_Stir_Speed").set(
        "RefBaseSystemUnitPath", f"{_DA}/ServiceElement/ParameterElement/DIntServParam"
    )


def integer_view(root: Element) -> None:
    named(instance_list(root), "TI101").set(
        "RefBaseSystemUnitPath", f"{_DA}/IndicatorElement/DIntView"
    )


def configuration_parameter(root: Element) -> None:
    """The Stir speed's data assembly doubles as the service's configuration parameter."""
    shared = attribute(named(instance_list(root), "Stirring_Stir_Speed"), "RefID")
    element = add_child(
        named(services_hierarchy(root), "Stirring"),
        "MaxSpeed",
        "MTPServiceSUCLib/ServiceParameter/ConfigurationParameter",
    )
    SubElement(SubElement(element, "Attribute", {"Name": "RefID"}), "Value").text = (
        shared.findtext("Value") or ""
    )


def check_integer_parameter(manifest: ModuleManifest) -> None:
    speed = manifest.services["Stirring"].procedures["Stir"].parameters["Speed"]
    assert (speed.unit, speed.minimum, speed.maximum) == ("rpm", 0.0, 1500.0)


def check_integer_view(manifest: ModuleManifest) -> None:
    assert manifest.process_values["TI101"].unit == "degC"


def check_configuration(manifest: ModuleManifest) -> None:
    configuration = manifest.services["Stirring"].configuration
    assert list(configuration) == ["MaxSpeed"]
    assert configuration["MaxSpeed"].unit == "rpm"
    assert "VExt" in configuration["MaxSpeed"].nodes


@pytest.mark.parametrize(
    ("mutation", "check"),
    [
        pytest.param(integer_parameter, check_integer_parameter, id="DIntServParam"),
        pytest.param(integer_view, check_integer_view, id="DIntView"),
        pytest.param(configuration_parameter, check_configuration, id="ConfigurationParameter"),
    ],
)
def test_other_data_assembly_types_the_runtime_uses(
    mutation: Mutation, check: Callable[[ModuleManifest], None]
) -> None:
    root = build(STIRRER)
    mutation(root)
    manifest = load_manifest(to_bytes(root))
    assert manifest.issues == ()
    check(manifest)
