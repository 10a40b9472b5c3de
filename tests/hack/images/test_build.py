"""build.py's orchestration without debootstrap: the three image specs agree with what the
operator and the chart run, layers are cached by key, and archives are rewritten only when
their manifest changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hack.images import build
from hack.images.oci_image import Blob, ImageSpec, Layer

REPO = Path(__file__).resolve().parents[3]


def _layer(name: str) -> Layer:
    return Layer(Blob(f"sha256:{name * 64}"[:71], 10), f"sha256:{name * 64}"[:71], name)


LAYERS = {"base": _layer("b"), "app": _layer("a"), "pause": _layer("p")}


def _specs() -> dict[str, ImageSpec]:
    specs = build.image_specs("1.2.3", layers=LAYERS, arch="amd64")
    return {s.name.rsplit("/", 1)[-1]: s for s in specs}


def test_runtime_image_matches_the_operators_deployment() -> None:
    from mes_operator.builders.context import HTTP_PORT
    from mes_operator.builders.deployment import RUNTIME_UID

    runtime = _specs()["mes-runtime"]
    assert runtime.ref == "holon.local/mes-runtime:1.2.3"
    assert runtime.entrypoint == ("mes-runtime",)
    assert runtime.cmd == ("serve",)
    assert runtime.exposed_ports == (f"{HTTP_PORT}/tcp",)
    assert runtime.user == f"{RUNTIME_UID}:{RUNTIME_UID}"
    assert f"HOLON_PORT={HTTP_PORT}" in runtime.env
    assert "PYTHONPATH=/opt/holon/site" in runtime.env
    assert runtime.layers == (_layer("b"), _layer("a"))


def test_operator_image_matches_the_chart() -> None:
    values = yaml.safe_load((REPO / "charts" / "holon" / "values.yaml").read_text())
    template = (REPO / "charts" / "holon" / "templates" / "deployment.yaml").read_text()
    operator = _specs()["mes-operator"]
    assert operator.entrypoint == ("mes-operator",)
    assert operator.cmd == ("run",)
    assert "args:\n            - run\n" in template  # the chart passes `run` itself too
    assert operator.exposed_ports == (f"{values['operator']['healthPort']}/tcp",)
    assert operator.user == "10001:10001"
    # same blobs as the runtime: containerd stores them once
    assert operator.layers == _specs()["mes-runtime"].layers


def test_only_selects_images_and_needs_only_their_layers() -> None:
    (pause,) = build.image_specs(
        "1.2.3", layers={"pause": _layer("p")}, arch="amd64", only=["pause"]
    )
    assert pause.ref == "holon.local/pause:3.10"
    with pytest.raises(KeyError):
        build.image_specs(
            "1.2.3", layers={"pause": _layer("p")}, arch="amd64", only=["mes-runtime"]
        )
    with pytest.raises(ValueError, match="unknown images"):
        build.image_specs("1.2.3", layers=LAYERS, arch="amd64", only=["nginx"])


def test_every_image_names_its_layers() -> None:
    for name, spec in _specs().items():
        assert spec.layers == tuple(LAYERS[layer] for layer in build.IMAGE_LAYERS[name])


def test_pause_image_is_the_pause_layer_only() -> None:
    pause = _specs()["pause"]
    assert pause.ref == "holon.local/pause:3.10"
    assert pause.layers == (_layer("p"),)
    assert pause.entrypoint == ("/pause",)
    assert pause.user == "65535:65535"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOLON_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return tmp_path / "cache"


def test_cache_root_follows_holon_cache(cache: Path) -> None:
    assert build.images_dir() == cache / "images"


def test_layers_are_built_once_per_key_and_old_keys_pruned(cache: Path) -> None:
    calls: list[Path] = []

    def produce(stage: Path, work: Path) -> None:
        calls.append(work)
        (stage / "etc").mkdir(parents=True)
        (stage / "etc" / "motd").write_text("hello\n")

    first = build.cached_layer("demo-1", produce, comment="demo")
    again = build.cached_layer("demo-1", produce, comment="demo")
    assert (first.built, again.built) == (True, False)
    assert again.file.layer == first.file.layer
    assert len(calls) == 1
    assert not calls[0].exists()  # scratch space is removed
    other = build.cached_layer("demo-2", produce, comment="demo")
    assert other.built
    assert other.file.layer.diff_id == first.file.layer.diff_id  # same tree, same layer
    assert sorted(p.name for p in (cache / "images" / "layers").iterdir()) == ["demo-2"]


def test_source_date_epoch_is_part_of_the_layer(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def produce(stage: Path, _work: Path) -> None:
        stage.mkdir(parents=True)
        (stage / "f").write_text("x")

    plain = build.cached_layer("epoch-1", produce, comment="")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    stamped = build.cached_layer("epoch-1", produce, comment="")
    assert stamped.built
    assert stamped.file.layer.diff_id != plain.file.layer.diff_id


def test_a_failed_produce_leaves_no_layer(cache: Path) -> None:
    def produce(stage: Path, _work: Path) -> None:
        stage.mkdir(parents=True)
        raise SystemExit("boom")

    with pytest.raises(SystemExit, match="boom"):
        build.cached_layer("fail-1", produce, comment="")
    assert not (cache / "images" / "layers" / "fail-1").exists()
    assert not list((cache / "images" / "tmp").iterdir())


def test_archives_are_rewritten_only_when_the_manifest_changes(cache: Path) -> None:
    def produce(stage: Path, _work: Path) -> None:
        stage.mkdir(parents=True)
        (stage / "pause").write_bytes(b"binary")

    layer = build.cached_layer("pause-x", produce, comment="pause").file
    same = {"base": layer.layer, "app": layer.layer, "pause": layer.layer}
    specs = build.image_specs("1.0.0", layers=same, arch="amd64")
    pause = specs[2]
    files = {layer.layer.blob.digest: layer.path}
    first = build.write_image(pause, files)
    second = build.write_image(pause, files)
    assert (first.built, second.built) == (True, False)
    assert first.digest == second.digest
    assert first.archive == cache / "images" / "oci" / "pause-3.10.oci.tar"
    changed = build.write_image(specs[0], files)  # another image, another archive
    assert changed.built
    assert changed.archive.name == "mes-runtime-1.0.0.oci.tar"


def test_summary_is_merged_so_partial_builds_keep_the_others(cache: Path) -> None:
    def image(ref: str, digest: str) -> object:
        return build.BuiltImage(ref, cache / f"{digest}.oci.tar", digest, 1, built=True)

    (cache / "images" / "oci").mkdir(parents=True)
    build._write_summary([image("r/a:1", "sha256:1"), image("r/p:3", "sha256:2")])
    build._write_summary([image("r/p:3", "sha256:3")])
    summary = json.loads((cache / "images" / "oci" / "images.json").read_text())
    assert {ref: info["digest"] for ref, info in summary.items()} == {
        "r/a:1": "sha256:1",
        "r/p:3": "sha256:3",
    }


def test_safe_rmtree_removes_plain_trees(tmp_path: Path) -> None:
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    (tmp_path / "t" / "a" / "b" / "f").write_text("x")
    build.safe_rmtree(tmp_path / "t")
    assert not (tmp_path / "t").exists()
    build.safe_rmtree(tmp_path / "t")  # absent: nothing to do
