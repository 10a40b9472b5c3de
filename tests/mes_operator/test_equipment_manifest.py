"""The Equipment's manifest from its ConfigMap, and the verdict from the nodes that read bad:
the pure parts of the manifest check (the OPC UA reads are tested against real servers in
``test_equipment_check.py`` and ``test_equipment_check_node_pea.py``)."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from mes_operator.equipment.check import ManifestUnavailable, manifest_verdict
from mes_operator.equipment.manifest import (
    MESSAGE_ERRORS,
    manifest_from_config_map,
    manifest_not_found,
)

from holon_testing.vendor_mtp import build, to_bytes
from mtp_manifest import ManifestError, ModuleManifest, NodeProblem, load_manifest
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

AML = to_bytes(build(STIRRER))
ENDPOINT = "opc.tcp://pea:4840"


def _mtp(aml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("HC30.aml", aml)
    return buffer.getvalue()


def _read(
    data: dict[str, str] | None = None, binary: dict[str, str] | None = None
) -> ModuleManifest | ManifestUnavailable:
    return manifest_from_config_map(data, binary, name="hc30-mtp", key="manifest")


def test_aml_text_in_data_and_an_mtp_zip_in_binary_data_read_alike() -> None:
    from_text = _read({"manifest": AML.decode()})
    from_zip = _read(None, {"manifest": base64.b64encode(_mtp(AML)).decode()})
    assert isinstance(from_text, ModuleManifest)
    assert from_text == from_zip == load_manifest(AML)
    assert tuple(from_text.services) == ("Stirring", "Tempering")


def test_a_missing_key_names_the_config_map_and_key() -> None:
    missing = _read({"other": AML.decode()}, {"also-other": ""})
    assert isinstance(missing, ManifestUnavailable)
    assert missing.reason == "ManifestNotFound"
    assert "ConfigMap hc30-mtp key manifest" in missing.message


def test_a_missing_config_map_is_named_with_its_namespace() -> None:
    missing = manifest_not_found("hc30-mtp", "plant-a")
    assert (missing.reason, missing.message) == (
        "ManifestNotFound",
        "ConfigMap plant-a/hc30-mtp named by spec.manifest not found",
    )


def test_binary_data_that_is_not_base64_is_invalid() -> None:
    bad = _read(None, {"manifest": "not base64!"})
    assert isinstance(bad, ManifestUnavailable)
    assert (bad.reason, bad.message) == (
        "ManifestInvalid",
        "ConfigMap hc30-mtp key manifest: binaryData is not base64",
    )


@pytest.mark.parametrize(
    ("text", "located"),
    [
        pytest.param("<CAEXFile", "not XML", id="not-xml"),
        pytest.param("<Other/>", "Other: root element is not a CAEXFile", id="not-caex"),
        pytest.param(
            AML.decode().replace('Name="Endpoint"', 'Name="NoEndpoint"'),
            "Endpoint is not an opc.tcp URL",
            id="no-endpoint",
        ),
    ],
)
def test_an_unreadable_manifest_gives_the_readers_located_error(text: str, located: str) -> None:
    bad = _read({"manifest": text})
    assert isinstance(bad, ManifestUnavailable)
    assert bad.reason == "ManifestInvalid"
    assert bad.message.startswith("ConfigMap hc30-mtp key manifest is not a usable MTP manifest: ")
    assert located in bad.message


def test_many_reader_errors_are_cut_to_the_first_few() -> None:
    broken = AML.decode().replace('Name="Namespace"', 'Name="NoNamespace"')
    bad = _read({"manifest": broken})
    assert isinstance(bad, ManifestUnavailable)
    with pytest.raises(ManifestError, match="needs Identifier and Namespace") as raised:
        load_manifest(broken.encode())
    errors = [i for i in raised.value.issues if i.severity == "error"]
    assert len(errors) > MESSAGE_ERRORS
    assert str(errors[0]) in bad.message
    assert str(errors[MESSAGE_ERRORS]) not in bad.message
    assert bad.message.endswith(f"; and {len(errors) - MESSAGE_ERRORS} more error(s)")


MANIFEST = load_manifest(AML)


def test_no_bad_node_verifies_every_declared_service() -> None:
    verdict = manifest_verdict(ENDPOINT, MANIFEST, (), ())
    assert verdict["verified"] is True
    assert verdict["reason"] == "AllServicesPresent"
    assert verdict["found"] == ("Stirring", "Tempering")
    assert verdict["message"] == (
        f"{ENDPOINT} serves all {len(MANIFEST.nodes())} node(s) of manifest 'HC30': "
        "2 MTP service(s)"
    )


def test_a_bad_parameter_node_takes_out_its_service_only() -> None:
    speed = next(v for v in MANIFEST.nodes() if v.startswith("Stirring/Stir/Speed."))
    problem = NodeProblem(speed, "ns=2;s=x", "BadNodeIdUnknown")
    verdict = manifest_verdict(ENDPOINT, MANIFEST, (), (problem,))
    assert verdict["verified"] is False
    assert verdict["reason"] == "NodesMissing"
    assert (verdict["found"], verdict["missing"]) == (("Tempering",), ("Stirring",))
    assert verdict["offered"] == ("Tempering",)
    assert verdict["missing_nodes"] == (problem,)
    assert str(problem) in verdict["message"]
    assert verdict["message"].endswith("; services missing: Stirring")


def test_a_bad_process_value_fails_verification_without_a_missing_service() -> None:
    problem = NodeProblem("TI101.V", "ns=2;s=TI101.V", "BadNotReadable")
    verdict = manifest_verdict(ENDPOINT, MANIFEST, ("Tempering",), (problem,))
    assert (verdict["verified"], verdict["reason"]) == (False, "NodesMissing")
    assert (verdict["found"], verdict["missing"]) == (("Tempering",), ())
    assert "services missing" not in verdict["message"]


def test_a_required_service_the_manifest_does_not_declare_is_missing() -> None:
    verdict = manifest_verdict(ENDPOINT, MANIFEST, ("Tempering", "Dosing"), ())
    assert (verdict["verified"], verdict["reason"]) == (False, "ServiceMissing")
    assert (verdict["found"], verdict["missing"]) == (("Tempering",), ("Dosing",))
    assert verdict["message"] == (
        "manifest 'HC30' declares no service Dosing; it declares Stirring, Tempering"
    )
