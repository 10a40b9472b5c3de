"""Facts written in more than one place because one side cannot import the other (the
stdlib-only tools run before the virtualenv exists; the chart and the Dockerfiles are not
Python; the README is prose): each place must say what the source says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mes_operator
import pytest
import yaml
from mes_operator.builders.deployment import RUNTIME_UID
from mes_operator.settings import OperatorConfig

import mes_runtime
from hack.cluster import binaries
from hack.images import build
from hack.images.oci_image import Blob, ImageSpec, Layer
from hack.project import REPO, version

CHART = REPO / "charts" / "holon"


def _values() -> dict[str, object]:
    values: dict[str, object] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def test_one_version_the_pyproject_one() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert mes_runtime.__version__ == version()
    assert mes_operator.__version__ == version()
    assert chart["appVersion"] == version()


def test_the_charts_operator_defaults_are_the_operators_own() -> None:
    operator = _values()["operator"]
    assert isinstance(operator, dict)
    defaults = OperatorConfig()
    assert operator["healthPort"] == defaults.health_port
    assert operator["metricsPort"] == defaults.metrics_port
    assert operator["watchServerTimeout"] == defaults.server_timeout
    assert operator["watchClientTimeout"] == defaults.client_timeout
    assert operator["peeringLifetime"] == defaults.peering_lifetime
    assert operator["reconcileInterval"] == defaults.reconcile_interval
    assert operator["equipmentPoll"] == defaults.equipment_poll


def _dockerfile(name: str) -> dict[str, list[str]]:
    """Instructions of the final stage of images/<name>/Dockerfile, continuation lines joined."""
    text = (REPO / "images" / name / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    final = text.rsplit("\nFROM ", 1)[1]
    found: dict[str, list[str]] = {}
    for line in final.splitlines()[1:]:
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.setdefault(word, []).append(rest.strip())
    return found


def _spec(name: str) -> ImageSpec:
    layer = Layer(Blob("sha256:" + "0" * 64, 1), "sha256:" + "0" * 64, "x")
    layers = dict.fromkeys(("base", "app", "pause"), layer)
    (spec,) = build.image_specs(version(), layers=layers, arch="amd64", only=[name])
    return spec


@pytest.mark.parametrize(
    ("directory", "image"), [("runtime", "mes-runtime"), ("operator", "mes-operator")]
)
def test_the_dockerfiles_run_what_the_images_run(directory: str, image: str) -> None:
    """images/*/Dockerfile (for users with Docker) and hack.images (the local images) are two
    recipes of one image: the command, user, ports, labels and Holon settings agree."""
    docker, spec = _dockerfile(directory), _spec(image)
    assert docker["ENTRYPOINT"] == [json.dumps(list(spec.entrypoint))]
    assert docker["CMD"] == [json.dumps(list(spec.cmd))]
    assert docker["USER"] == [spec.user]
    assert docker["EXPOSE"] == [" ".join(p.removesuffix("/tcp") for p in spec.exposed_ports)]
    labels = " ".join(docker["LABEL"])
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.description"):
        assert f'{key}="{spec.labels[key]}"' in labels
    env = " ".join(docker["ENV"]).split()
    assert sorted(e for e in env if e.startswith("HOLON_")) == sorted(
        e for e in spec.env if e.startswith("HOLON_")
    )
    healthchecks = " ".join(docker.get("HEALTHCHECK", []))
    for port in re.findall(r"127\.0\.0\.1:(\d+)", healthchecks):
        assert f"{port}/tcp" in spec.exposed_ports
    assert spec.user == f"{RUNTIME_UID}:{RUNTIME_UID}"


def test_the_readme_names_the_pinned_kubernetes() -> None:
    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"k8s\.io/kubernetes`? (v\d+\.\d+\.\d+)", readme))
    named |= set(re.findall(r"k8s-(v\d+\.\d+\.\d+)-", readme))
    assert named == {binaries.KUBERNETES_VERSION}


def test_kubernetes_and_etcd_come_from_the_go_module_the_build_uses() -> None:
    go_mod = (Path(binaries.TOOLS_K8S) / "go.mod").read_text()
    assert f"\tk8s.io/kubernetes {binaries.KUBERNETES_VERSION} " in go_mod
    assert f"\tgo.etcd.io/etcd/server/v3 {binaries.ETCD_VERSION} " in go_mod
