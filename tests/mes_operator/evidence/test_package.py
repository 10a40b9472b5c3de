"""Evidence packages: assembled, written, and verified offline by ``kubectl mes evidence
verify`` and by an independent verifier written from the format page; one changed byte in
any file, the manifest or the signature, a file added or removed, another key, or a broken
chain is named; the verdict follows the rows; the PDF's first page says what it is about."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mes_operator.evidence import cli
from mes_operator.evidence.assemble import Assembled, assemble
from mes_operator.evidence.dsse import manifest_statement, public_pem, sign_envelope
from mes_operator.evidence.files import read_package, write_package
from mes_operator.evidence.manifest import render_manifest
from mes_operator.evidence.package import (
    AutoApproval,
    Deviation,
    Header,
    Package,
    Requirement,
    Result,
    Row,
    compute_verdict,
    traceability,
)
from mes_operator.evidence.verify import verify_package
from mes_operator.models.mesmodule import Verdict

from tests.mes_operator.evidence import independent_verifier

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = "2026-12-01T18:00:00Z"
REQUIREMENTS = (
    Requirement(id="URS-IQ-01", text="The released images run", risk="high"),
    Requirement(id="URS-OQ-04", text="A recipe runs to completion on the test unit"),
    Requirement(id="URS-OQ-09", text="The journal verifies", risk="high"),
)
IMAGES = b'{"runtime": "sha256:' + b"ab" * 32 + b'"}\n'
RUN = b"batch B-1 completed; journal verified\n"


def _row(id_: str, requirement: str, evidence: str, result: Result = Result.PASS) -> Row:
    return Row(
        id=id_,
        requirement=requirement,
        expected="as released",
        actual="as released" if result is Result.PASS else "<different>",
        result=result,
        timestamp=NOW,
        evidence=evidence,
    )


def _package(
    *, version: str = "0.3.0", previous: str | None = None, oq_result: Result = Result.PASS
) -> Package:
    return Package(
        header=Header(
            module="mes",
            namespace="plant-1",
            qualification=f"mes-install-{version}",
            event="Install" if previous is None else "Upgrade",
            from_version=None if previous is None else "0.2.0",
            to_version=version,
            changed_by="platform-admin",
            created_at=NOW,
            operator_version="0.3.0",
        ),
        intended_use="Execute ISA-88 recipes for the mAb upstream process (GMP).",
        risk="high: batch execution and the electronic batch record",
        requirements=REQUIREMENTS,
        iq=[_row("IQ-01", "URS-IQ-01", "evidence/iq/images.json")],
        oq=[
            _row("OQ-04", "URS-OQ-04", "evidence/oq/run.log", oq_result),
            _row("OQ-09", "URS-OQ-09", "evidence/oq/run.log"),
        ],
        disruption=None if previous is None else {"handoverGapP95Seconds": 0.009},
        previous_digest=previous,
    )


def _evidence() -> dict[str, bytes]:
    return {"evidence/iq/images.json": IMAGES, "evidence/oq/run.log": RUN}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "public.pem"
    path.write_bytes(public_pem(KEY.public_key()))
    return path


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Assembled]:
    assembled = assemble(_package(), _evidence(), KEY)
    directory = tmp_path / "install"
    write_package(directory, assembled.files)
    return directory, assembled


def _verify_cli(key: Path, *args: str | Path) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="kubectl mes")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(
        parser.parse_args(["evidence", "verify", *map(str, args), "--key", str(key)]), out, err
    )
    return code, out.getvalue() + err.getvalue()


def test_a_package_verifies_with_the_cli_the_independent_verifier_and_sha256sum(
    written: tuple[Path, Assembled], key_file: Path
) -> None:
    directory, assembled = written
    code, text = _verify_cli(key_file, directory, "--first")
    assert code == 0, text
    assert f"OK {directory}: plant-1/mes Install 0.3.0 PROVISIONAL, {assembled.digest}" in text
    assert "chain checked" in text
    assert independent_verifier.check(directory, key_file.read_bytes(), None) == []
    assert independent_verifier.digest(directory) == assembled.digest
    check = subprocess.run(
        ["sha256sum", "--check", "--strict", "manifest.sha256"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 5  # two evidence files, json, html, pdf
    document = json.loads((directory / "package.json").read_bytes())
    assert document["iq"][0]["sha256"] == assembled.files["manifest.sha256"].decode().split()[0]


def test_assembly_is_reproducible(written: tuple[Path, Assembled]) -> None:
    _, first = written
    again = assemble(_package(), _evidence(), KEY)
    assert again.files == first.files
    assert again.digest == first.digest


FILES = [
    "evidence/iq/images.json",
    "evidence/oq/run.log",
    "package.json",
    "package.html",
    "package.pdf",
    "manifest.sha256",
    "signature.dsse.json",
]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_one_changed_byte_in_any_file_is_named(
    written: tuple[Path, Assembled], key_file: Path, name: str, where: float
) -> None:
    directory, _ = written
    path = directory / name
    data = bytearray(path.read_bytes())
    data[min(int(len(data) * where), len(data) - 1)] ^= 0x01
    path.write_bytes(bytes(data))

    code, text = _verify_cli(key_file, directory)
    assert code == 1
    first = text.splitlines()[0]
    assert first.startswith(f"FAILED {directory}: ")
    assert name in first, text
    assert independent_verifier.check(directory, key_file.read_bytes(), None) != []


def test_an_added_or_removed_file_is_named(written: tuple[Path, Assembled], key_file: Path) -> None:
    directory, _ = written
    (directory / "evidence" / "extra.txt").write_text("added later\n")
    code, text = _verify_cli(key_file, directory)
    assert code == 1
    assert "evidence/extra.txt is not listed in manifest.sha256" in text.splitlines()[0]

    (directory / "evidence" / "extra.txt").unlink()
    (directory / "package.html").unlink()
    code, text = _verify_cli(key_file, directory)
    assert code == 1
    assert "package.html is listed in manifest.sha256 but missing" in text.splitlines()[0]


def test_a_consistently_rehashed_package_fails_on_the_signature(
    written: tuple[Path, Assembled], key_file: Path
) -> None:
    """Whoever edits package.json and writes a fresh manifest cannot sign it as the operator:
    re-signing with their own key names the key, keeping the old signature names the manifest."""
    directory, assembled = written
    document = json.loads(assembled.files["package.json"])
    document["verdict"] = "QUALIFIED"
    files = dict(assembled.files)
    files["package.json"] = json.dumps(document).encode()
    content = {
        k: v for k, v in files.items() if k not in {"manifest.sha256", "signature.dsse.json"}
    }
    files["manifest.sha256"] = render_manifest(content)
    kept = verify_package(files, KEY.public_key())
    assert kept.problems[0].startswith("manifest.sha256 is not the manifest the operator signed")

    forger = Ed25519PrivateKey.generate()
    files["signature.dsse.json"] = sign_envelope(
        manifest_statement(files["manifest.sha256"], {"verdict": "QUALIFIED"}), forger
    )
    forged = verify_package(files, KEY.public_key())
    assert forged.problems[0].startswith("signature.dsse.json: no signature by the given key")
    shutil.rmtree(directory)
    write_package(directory, files)
    assert independent_verifier.check(directory, key_file.read_bytes(), None) != []


def test_a_statement_that_disagrees_with_the_package_is_named(
    written: tuple[Path, Assembled],
) -> None:
    """Even signed by the operator's key, a summary that differs from package.json fails."""
    _, assembled = written
    files = dict(assembled.files)
    predicate = {**json.loads(files["package.json"])["header"], "verdict": "QUALIFIED"}
    predicate["previousPackageDigest"] = None
    files["signature.dsse.json"] = sign_envelope(
        manifest_statement(files["manifest.sha256"], predicate), KEY
    )
    found = verify_package(files, KEY.public_key())
    assert found.problems == [
        "package.json: verdict is 'PROVISIONAL' but the signed statement says 'QUALIFIED'"
    ]


def test_another_key_is_named(written: tuple[Path, Assembled], tmp_path: Path) -> None:
    directory, _ = written
    other = tmp_path / "other.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    code, text = _verify_cli(other, directory)
    assert code == 1
    assert "signature.dsse.json: no signature by the given key" in text


def _chain(tmp_path: Path) -> list[tuple[Path, Assembled]]:
    install = assemble(_package(), _evidence(), KEY)
    upgrade = assemble(_package(version="0.4.0", previous=install.digest), _evidence(), KEY)
    out = []
    for name, assembled in (("1-install", install), ("2-upgrade", upgrade)):
        write_package(tmp_path / name, assembled.files)
        out.append((tmp_path / name, assembled))
    return out


def test_a_chain_verifies_oldest_first_and_a_broken_link_is_named(
    tmp_path: Path, key_file: Path
) -> None:
    (install, first), (upgrade, second) = _chain(tmp_path)
    code, text = _verify_cli(key_file, install, upgrade, "--first")
    assert code == 0, text
    assert text.count("chain checked") == 2
    assert independent_verifier.check(upgrade, key_file.read_bytes(), first.digest) == []

    code, text = _verify_cli(key_file, upgrade, "--previous-digest", first.digest)
    assert code == 0, text

    # Out of order, or a package left out of the chain, breaks it.
    code, text = _verify_cli(key_file, upgrade, install)
    assert code == 1
    assert f"chain: package.json names previous package none, expected {second.digest}" in text
    other = assemble(_package(version="0.3.1"), _evidence(), KEY)
    code, text = _verify_cli(key_file, upgrade, "--previous-digest", other.digest)
    assert code == 1
    assert f"expected {other.digest}" in text.splitlines()[0]
    code, text = _verify_cli(key_file, upgrade, "--first")
    assert "expected none (the module's first package)" in text
    assert second.document["previousPackageDigest"] == first.digest


def test_a_package_without_its_manifest_or_signature_is_named(
    written: tuple[Path, Assembled], key_file: Path
) -> None:
    directory, _ = written
    (directory / "signature.dsse.json").unlink()
    code, text = _verify_cli(key_file, directory)
    assert code == 1
    assert "signature.dsse.json is missing" in text
    (directory / "manifest.sha256").unlink()
    code, text = _verify_cli(key_file, directory)
    assert code == 1
    assert "manifest.sha256 is missing" in text


def test_an_unreadable_key_is_a_usage_error(
    written: tuple[Path, Assembled], tmp_path: Path
) -> None:
    directory, _ = written
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    code, text = _verify_cli(bad, directory)
    assert code == 2
    assert "cannot read the public key" in text


@pytest.mark.parametrize(
    ("results", "deviations", "auto", "verdict"),
    [
        ([Result.PASS, Result.PASS], [], None, Verdict.PROVISIONAL),
        ([Result.PASS, Result.FAIL], [], None, Verdict.NOT_QUALIFIED),
        ([Result.PASS, Result.FAIL], [], "Interface", Verdict.NOT_QUALIFIED),
        ([], [], "Interface", Verdict.NOT_QUALIFIED),
        ([Result.PASS], [], "Interface", Verdict.QUALIFIED),
        ([Result.PASS], [True], "Interface", Verdict.QUALIFIED),
        ([Result.PASS], [False], "Interface", Verdict.PROVISIONAL),
    ],
)
def test_the_verdict_follows_the_rows_deviations_and_auto_approval(
    results: list[Result], deviations: list[bool], auto: str | None, verdict: Verdict
) -> None:
    rows = [_row(f"R{i}", "URS-IQ-01", "evidence/x") for i in range(len(results))]
    rows = [dataclasses.replace(r, result=res) for r, res in zip(rows, results, strict=True)]
    devs = [
        Deviation(
            id=f"D{i}", subject="image", baseline="a", actual="b", explained=e, explanation="why"
        )
        for i, e in enumerate(deviations)
    ]
    approval = None if auto is None else AutoApproval(category=auto, rule="r", rule_version="1")
    assert compute_verdict(rows, devs, approval) is verdict


def test_a_failed_oq_row_makes_the_package_not_qualified_and_names_the_row(
    tmp_path: Path, key_file: Path
) -> None:
    assembled = assemble(_package(oq_result=Result.FAIL), _evidence(), KEY)
    assert assembled.document["verdict"] == "NOT QUALIFIED"
    matrix = {t["requirement"]: t for t in assembled.document["traceability"]}
    assert matrix["URS-OQ-04"]["result"] == "fail"
    assert matrix["URS-OQ-04"]["tests"] == ["OQ-04"]
    assert matrix["URS-OQ-09"]["result"] == "pass"
    write_package(tmp_path / "p", assembled.files)
    code, text = _verify_cli(key_file, tmp_path / "p")
    assert code == 0  # a failed verdict is still authentic
    assert "NOT QUALIFIED" in text


def test_the_traceability_matrix_names_untested_and_refuses_unknown_requirements() -> None:
    rows = [_row("IQ-01", "URS-IQ-01", "evidence/iq/images.json")]
    matrix = traceability(REQUIREMENTS, rows)
    assert [t["result"] for t in matrix] == ["pass", "not tested", "not tested"]
    with pytest.raises(ValueError, match="URS-NOPE"):
        traceability(REQUIREMENTS, [_row("X", "URS-NOPE", "evidence/x")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: {**e, "package.json": b"{}"}, "evidence files must be under evidence/"),
        (lambda e: {"evidence/oq/run.log": RUN}, "row IQ-01 names evidence"),
    ],
)
def test_assembly_refuses_evidence_it_cannot_place(
    change: Callable[[dict[str, bytes]], dict[str, bytes]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assemble(_package(), change(_evidence()), KEY)


def test_the_pdf_first_page_shows_module_version_verdict_and_signatures(
    written: tuple[Path, Assembled], tmp_path: Path
) -> None:
    directory, _ = written
    pdf = pdfium.PdfDocument((directory / "package.pdf").read_bytes())
    assert len(pdf) >= 2
    first = pdf[0]
    text = " ".join(first.get_textpage().get_text_range().split())
    for expected in (
        "IQ/OQ evidence: mes",
        "plant-1/mes",
        "0.3.0",
        "PROVISIONAL",
        "Operator signature",
        "ed25519 key sha256:",
        "QualificationApproval",
    ):
        assert expected in text, (expected, text)
    image = first.render(scale=1).to_pil()
    image.save(tmp_path / "page1.png")
    assert image.size[0] > image.size[1]  # landscape A4
    darkest, lightest = image.convert("L").getextrema()
    assert darkest < 100 < lightest  # text on a white page
    later = " ".join(
        " ".join(page.get_textpage().get_text_range().split()) for page in list(pdf)[1:]
    )
    for section in ("Installation qualification", "Operational qualification", "Traceability"):
        assert section in later
    assert "URS-OQ-04" in later


def test_the_html_escapes_what_it_shows() -> None:
    package = _package()
    hostile = dataclasses.replace(package.iq[0], actual="<script>alert(1)</script>")
    assembled = assemble(dataclasses.replace(package, iq=[hostile]), _evidence(), KEY)
    page = assembled.files["package.html"].decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "PROVISIONAL" in page


def test_read_package_refuses_links(written: tuple[Path, Assembled], tmp_path: Path) -> None:
    directory, _ = written
    (directory / "evidence" / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="symbolic link"):
        read_package(directory)


def test_the_plugin_verifies_without_any_cluster(
    written: tuple[Path, Assembled], key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kubectl mes evidence verify` is offline: no kubeconfig is read, none is needed."""
    from mes_operator import kubectl_plugin

    monkeypatch.setenv("KUBECONFIG", str(key_file.parent / "no-such-kubeconfig"))
    directory, _ = written
    argv = ["evidence", "verify", str(directory), "--key", str(key_file), "--first"]
    assert kubectl_plugin.main(argv) == 0
    (directory / "package.json").write_bytes(b"{}")
    assert kubectl_plugin.main(argv) == 1
