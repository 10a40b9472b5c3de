"""MTP manifests: round trip of what the simulator publishes, and every malformed case."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from mes_runtime.mtp.errors import ManifestError
from mes_runtime.mtp.manifest import (
    REQUIRED_SERVICE_VARIABLES,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
    load_manifest,
    write_manifest,
    write_mtp_zip,
)
from mes_runtime.simulator.address_space import build_address_space
from mes_runtime.simulator.contract import CONTRACT_MODULES

ENDPOINT = "opc.tcp://127.0.0.1:4840"


def manifest_of(module: str, layout: str = "string") -> ModuleManifest:
    spec = CONTRACT_MODULES[module]
    return build_address_space(spec, layout).manifest(spec, ENDPOINT)


@pytest.mark.parametrize("layout", ["string", "numeric"])
@pytest.mark.parametrize("module", sorted(CONTRACT_MODULES))
def test_round_trip(module: str, layout: str) -> None:
    original = manifest_of(module, layout)
    assert load_manifest(write_manifest(original)) == original


def test_write_is_deterministic() -> None:
    assert write_manifest(manifest_of("BR-101")) == write_manifest(manifest_of("BR-101"))


def test_mtp_zip_and_path(tmp_path: Path) -> None:
    original = manifest_of("CH-301", "numeric")
    path = tmp_path / "CH-301.mtp"
    path.write_bytes(write_mtp_zip(original))
    assert load_manifest(path) == original


def test_contract_content_is_in_the_manifest() -> None:
    manifest = load_manifest(write_manifest(manifest_of("BR-101")))
    assert manifest.name == "BR-101"
    assert manifest.endpoint == ENDPOINT
    fed_batch = manifest.services["Cultivate"].procedures["FedBatch"]
    assert fed_batch.procedure_id == 1
    assert list(fed_batch.parameters) == [
        "TemperatureSP",
        "pHSP",
        "DOSP",
        "AgitatorSpeed",
        "Duration",
        "FeedRate",
    ]
    temperature = fed_batch.parameters["TemperatureSP"]
    assert (temperature.unit, temperature.minimum, temperature.maximum) == ("degC", 30.0, 40.0)
    assert manifest.process_values["VCD"].unit == "1e6 cells/mL"
    chromatography = load_manifest(write_manifest(manifest_of("CH-301")))
    steps = chromatography.services["Chromatography"].procedures
    assert {name: p.procedure_id for name, p in steps.items()} == {
        "Equilibrate": 1,
        "Load": 2,
        "Wash": 3,
        "Elute": 4,
    }
    assert chromatography.services["Chromatography"].procedure_by_id(4) is steps["Elute"]


def test_written_as_caex_2_15_with_2658_4_2022_classes() -> None:
    root = SafeET.fromstring(write_manifest(manifest_of("TK-201")))
    assert root.tag == "CAEXFile"  # no default namespace in CAEX 2.15
    assert root.get("SchemaVersion") == "2.15"
    classes = {e.get("RefBaseSystemUnitPath") for e in root.iter("InternalElement")}
    assert "MTPServiceSUCLib/ServiceSet" in classes
    assert "MTPServiceSUCLib/Service/Procedure" in classes
    assert "MTPDataObjectSUCLib/DataAssembly/ServiceElement/ServiceControl" in classes


def test_reads_draft_class_names_and_procedure_id_spelling() -> None:
    original = manifest_of("CH-301")
    text = write_manifest(original).decode()
    text = text.replace("MTPServiceSUCLib/Service/Procedure", "MTPServiceSUCLib/ServiceProcedure")
    text = text.replace("MTPServiceSUCLib/ServiceSet", "MTPSUCLib/ServicesSet")
    text = text.replace('Name="ProcedureID"', 'Name="ProcedureId"')
    assert load_manifest(text.encode()) == original


def test_reads_namespaced_caex_3_with_aspects_in_separate_hierarchies() -> None:
    original = manifest_of("BR-101", "numeric")
    root = SafeET.fromstring(write_manifest(original))
    module = root.find("InstanceHierarchy/InternalElement")
    assert module is not None
    services = next(e for e in module if e.get("Name") == "Services")
    module.remove(services)
    aspect = ET.SubElement(root, "InstanceHierarchy", {"Name": "Services"})
    aspect.append(services)
    for element in root.iter():
        element.tag = "{http://www.dke.de/CAEX}" + element.tag
    root.set("SchemaVersion", "3.0")
    assert load_manifest(ET.tostring(root)) == original


def test_layouts_give_different_node_ids_for_the_same_variable() -> None:
    by_string = manifest_of("TK-201", "string").services["Charge"].control["StateCur"]
    by_number = manifest_of("TK-201", "numeric").services["Charge"].control["StateCur"]
    assert by_string.identifier.startswith("s=")
    assert by_number.identifier.startswith("i=")
    assert by_string.namespace != by_number.namespace


def test_node_ref_resolution() -> None:
    ref = NodeRef("urn:x", "i=12")
    assert ref.node_id(["http://opcfoundation.org/UA/", "urn:a", "urn:x"]) == "ns=2;i=12"
    assert NodeRef("3", "s=a.b").node_id() == "ns=3;s=a.b"
    with pytest.raises(ManifestError, match="urn:x"):
        ref.node_id(["http://opcfoundation.org/UA/"])


# --------------------------------------------------------------------------- malformed


def good() -> str:
    return write_manifest(manifest_of("TK-201")).decode()


def mutate(old: str, new: str, *, count: int = 1) -> bytes:
    text = good()
    assert old in text, old
    return text.replace(old, new, count).encode()


def expect(data: bytes, *fragments: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(data)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_not_xml() -> None:
    expect(b"this is not <xml", "not XML")


def test_entities_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CAEXFile>&a;</CAEXFile>'
    expect(bomb, "not XML")


def test_root_not_caex() -> None:
    expect(b"<html/>", "html", "CAEXFile")


def test_no_module_type_package() -> None:
    expect(mutate('RefBaseSystemUnitPath="MTPSUCLib/ModuleTypePackage"', ""), "ModuleTypePackage")


def test_service_without_service_control() -> None:
    text = good()
    start = text.index('<InternalElement Name="Charge"', text.index('Name="Services"'))
    ref = text.index('<Attribute Name="RefID"', start)
    end = text.index("</Attribute>", ref) + len("</Attribute>")
    expect((text[:ref] + text[end:]).encode(), "Services/Charge", "ServiceControl")


def test_refid_pointing_nowhere() -> None:
    text = good()
    start = text.index('<InternalElement Name="Volume"', text.index('Name="Services"'))
    value = text.index("<Value>", start) + len("<Value>")
    data = (text[:value] + "dangling-" + text[value:]).encode()
    expect(data, "ChargeWater/Volume", "points nowhere")


def test_item_refid_pointing_nowhere() -> None:
    text = good()
    state = text.index('<Attribute Name="StateCur"')
    value = text.index("<Value>", state) + len("<Value>")
    expect((text[:value] + "x" + text[value:]).encode(), "InstanceList/Charge", "StateCur")


def test_parameter_without_unit() -> None:
    expect(
        mutate("<Value>L</Value>", "<Value></Value>"),
        "InstanceList/Charge.ChargeWater.Volume",
        "without unit",
    )


def test_parameter_with_bad_range() -> None:
    text = good()
    vmax = text.index('<Attribute Name="VMax"')
    value = text.index("<Value>", vmax) + len("<Value>")
    end = text.index("</Value>", value)
    expect((text[:value] + "-5" + text[end:]).encode(), "VMin", "VMax")


def test_missing_required_service_variable() -> None:
    expect(mutate('Name="CommandEn"', 'Name="CommandEnX"'), "Charge", "CommandEn is missing")


def test_duplicate_service_names() -> None:
    text = good()
    services = text.index('Name="Services"')
    renamed = text[services:].replace(
        '<InternalElement Name="Mix" ID', '<InternalElement Name="Charge" ID', 1
    )
    expect((text[:services] + renamed).encode(), "Services/Charge", "duplicate service name")


def test_bad_procedure_id() -> None:
    text = good()
    attribute = text.index('<Attribute Name="ProcedureID"')
    value = text.index("<Value>", attribute) + len("<Value>")
    expect((text[:value] + "x" + text[value:]).encode(), "ChargeWater", "ProcedureID")


def test_no_endpoint() -> None:
    expect(mutate(ENDPOINT, "http://example.com"), "OPCServer", "opc.tcp")


def test_opc_item_without_identifier() -> None:
    expect(mutate('<Attribute Name="Identifier"', '<Attribute Name="Ident"'), "Identifier")


def test_zip_without_aml() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "no manifest here")
    expect(buffer.getvalue(), "no .aml")


def test_broken_zip() -> None:
    expect(b"PK\x03\x04garbage", "zip")


# --------------------------------------------------------------------------- vendor structure


@pytest.mark.parametrize("layout", ["string", "numeric"])
@pytest.mark.parametrize("module", sorted(CONTRACT_MODULES))
def test_vendor_structure_round_trip(module: str, layout: str) -> None:
    original = manifest_of(module, layout)
    read = load_manifest(write_manifest(original, structure="vendor"))
    assert read == original
    assert read.issues == ()
    assert read.version == "1.1.0"


def test_vendor_structure_is_what_engineering_tools_export() -> None:
    caex = "{http://www.dke.de/CAEX}"
    root = SafeET.fromstring(write_manifest(manifest_of("BR-101"), structure="vendor"))
    assert (root.tag, root.get("SchemaVersion")) == (f"{caex}CAEXFile", "3.0")
    hierarchies = {h.get("Name"): h for h in root.iter(f"{caex}InstanceHierarchy")}
    assert set(hierarchies) == {"ModuleTypePackage", "Services"}
    aspect = next(
        a for a in root.iter(f"{caex}Attribute") if a.get("Name") == "AspectRef"
    ).findtext(f"{caex}Value")
    assert aspect == hierarchies["Services"].get("ID")
    service = next(
        e
        for e in hierarchies["Services"].iter(f"{caex}InternalElement")
        if e.get("Name") == "Cultivate"
    )
    ref = next(a for a in service if a.get("Name") == "RefID").findtext(f"{caex}Value")
    control = next(
        e
        for e in hierarchies["ModuleTypePackage"].iter(f"{caex}InternalElement")
        if e.get("Name") == "Cultivate"
    )
    # Shared identity, not an element ID; links typed by AttributeType, not xs:IDREF.
    assert ref != control.get("ID")
    assert next(a for a in control if a.get("Name") == "RefID").findtext(f"{caex}Value") == ref
    state = next(a for a in control if a.get("Name") == "StateCur")
    assert state.get("RefAttributeType") == "MTPATLib/IDReferenceType/IDLinkAttributeType"
    assert state.get("AttributeDataType") == "xs:string"
    units = {
        a.findtext(f"{caex}Value")
        for a in root.iter(f"{caex}Attribute")
        if a.get("Name") == "VUnit"
    }
    assert "1001" in units  # degC as its 2658 unit code
    assert "1e6 cells/mL" in units  # no code for it: kept as text


@pytest.mark.parametrize("structure", ["holon", "vendor"])
def test_live_ranges_binary_views_configuration_and_continuous_procedures_round_trip(
    structure: str,
) -> None:
    def ref(name: str) -> NodeRef:
        return NodeRef("urn:x", f"s={name}")

    live = ParameterManifest(
        "Speed",
        "",
        None,
        None,
        {v: ref(f"Speed.{v}") for v in ("VExt", "ApplyExt", "VOut", "VMin", "VMax", "VUnit")},
    )
    constant = ParameterManifest(
        "Gain", "%", 0.0, 100.0, {v: ref(f"Gain.{v}") for v in ("VExt", "ApplyExt", "VOut")}
    )
    control = {v: ref(f"Stirring.{v}") for v in REQUIRED_SERVICE_VARIABLES}
    original = ModuleManifest(
        "HC-9",
        ENDPOINT,
        {
            "Stirring": ServiceManifest(
                "Stirring",
                control,
                {"Stir": ProcedureManifest("Stir", 1, {"Speed": live}, self_completing=False)},
                {"Gain": constant},
            )
        },
        {
            "LS1": ProcessValueManifest("LS1", "", ref("LS1.V")),
            "TI1": ProcessValueManifest("TI1", "", ref("TI1.V"), unit_node=ref("TI1.VUnit")),
        },
    )
    read = load_manifest(write_manifest(original, structure=structure))  # type: ignore[arg-type]
    assert read == original
    assert read.issues == ()
