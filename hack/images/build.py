"""Build Holon's OCI images without Docker, cache them, and optionally import them.

    sudo python3 -m hack.images.build [--import-address SOCKET] [--namespace k8s.io]  # repo root

Three layers, each a deterministic tarball cached under ~/.cache/holon/images/layers/ by a
key of its inputs (so a warm run only re-hashes sources): a Debian base made by debootstrap,
the app (Holon's wheel + locked dependencies) and a static pause binary. Three images are
assembled from them as OCI archives (runtime and operator share the base and app blobs):

    holon.local/mes-runtime:<version>   holon.local/mes-operator:<version>   holon.local/pause:3.10

Stdlib only: it runs on the host's python3 before any virtualenv exists. Needs root
(debootstrap, and files of the root file system only root may read).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from hack.images import app_layer, base_rootfs, pause_build
from hack.images.containerd_import import import_image
from hack.images.layer_tar import LayerFile, write_layer
from hack.images.oci_archive import archived_manifest_digest, write_oci_archive
from hack.images.oci_image import Blob, ImageSpec, Layer, image_docs
from hack.images.run_progress import elapsed
from hack.project import PREBUILD_LOGS, REPO, cache_root, locked
from hack.project import version as project_version

REGISTRY = "holon.local"
PAUSE_TAG = "3.10"
PAUSE_UID = 65535
ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON_ENV = (
    PATH,
    f"PYTHONPATH=/{app_layer.SITE}",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
)
# stdlib only, so not imported from the operator: tests/hack/images/test_build.py checks
# them against mes_operator's HTTP_PORT and the chart's operator.healthPort
RUNTIME_PORT = 8000
OPERATOR_HEALTH_PORT = 8081


def images_dir() -> Path:
    return cache_root() / "images"


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def safe_rmtree(path: Path) -> None:
    """rmtree that never descends into a mount (a failed debootstrap can leave /proc or a
    bind-mounted /dev inside its target): unmount first, refuse if that fails."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    left = _mounts_under(path)
    if left:
        raise SystemExit(f"refusing to delete {path}: still mounted: {left}")
    shutil.rmtree(path)


@dataclass(frozen=True)
class CachedLayer:
    file: LayerFile
    built: bool


def cached_layer(
    key: str,
    produce: Callable[[Path, Path], None],
    *,
    empty_dirs: frozenset[str] = frozenset(),
    comment: str,
) -> CachedLayer:
    """The layer stored under ``key``, or build it: ``produce(stage, work)`` fills ``stage``
    with the tree to archive (``work`` is scratch space). Older layers of the same kind
    are pruned."""
    layers = images_dir() / "layers"
    epoch = source_date_epoch()
    if epoch:
        key = f"{key}-e{epoch}"
    home = layers / key
    meta_path, blob_path = home / "layer.json", home / "layer.tar.gz"
    if meta_path.is_file() and blob_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta["size"] == blob_path.stat().st_size:
            layer = Layer(Blob(meta["digest"], meta["size"]), meta["diff_id"], comment)
            return CachedLayer(LayerFile(blob_path, layer), built=False)
    work = images_dir() / "tmp" / key
    safe_rmtree(work)
    work.mkdir(parents=True)
    try:
        stage = work / "root"
        produce(stage, work)
        print(f"  [{key}] writing the layer tarball", flush=True)
        written = write_layer(
            stage, work / "layer.tar.gz", mtime=epoch, empty_dirs=empty_dirs, comment=comment
        )
        safe_rmtree(home)
        home.mkdir(parents=True)
        written.path.replace(blob_path)
        layer = written.layer
        meta = {"digest": layer.blob.digest, "size": layer.blob.size, "diff_id": layer.diff_id}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        safe_rmtree(work)
    kind = key.split("-", 1)[0]
    for old in layers.glob(f"{kind}-*"):
        if old != home:
            safe_rmtree(old)
    return CachedLayer(LayerFile(blob_path, layer), built=True)


def _labels(title: str, description: str, version: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.description": description,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.vendor": "Holon",
    }


# image (short name) -> the layers it is made of, bottom first
IMAGE_LAYERS: dict[str, tuple[str, ...]] = {
    "mes-runtime": ("base", "app"),
    "mes-operator": ("base", "app"),
    "pause": ("pause",),
}


def image_specs(
    version: str,
    *,
    layers: Mapping[str, Layer],
    arch: str,
    epoch: int = 0,
    only: Collection[str] = tuple(IMAGE_LAYERS),
) -> list[ImageSpec]:
    """The images named in ``only`` (all three by default); ``layers`` needs the ones they
    use. Runtime and operator run as the non-root user 10001 of the base layer, as the
    operator's Deployments and the chart demand (runAsNonRoot)."""
    user = f"{base_rootfs.HOLON_UID}:{base_rootfs.HOLON_UID}"

    def stack(image: str) -> tuple[Layer, ...]:  # one source for what an image is made of
        return tuple(layers[name] for name in IMAGE_LAYERS[image])

    specs: dict[str, Callable[[], ImageSpec]] = {
        "mes-runtime": lambda: ImageSpec(
            name=f"{REGISTRY}/mes-runtime",
            tag=version,
            layers=stack("mes-runtime"),
            entrypoint=("mes-runtime",),
            cmd=("serve",),
            user=user,
            env=(
                *PYTHON_ENV,
                "HOLON_HOST=0.0.0.0",
                f"HOLON_PORT={RUNTIME_PORT}",
                f"HOLON_DATA_DIR={base_rootfs.HOLON_HOME}",
            ),
            working_dir=base_rootfs.HOLON_HOME,
            exposed_ports=(f"{RUNTIME_PORT}/tcp",),
            labels=_labels("holon-mes-runtime", "Holon ISA-88/MTP MES runtime", version),
            architecture=arch,
            created_epoch=epoch,
        ),
        "mes-operator": lambda: ImageSpec(
            name=f"{REGISTRY}/mes-operator",
            tag=version,
            layers=stack("mes-operator"),
            entrypoint=("mes-operator",),
            cmd=("run",),
            user=user,
            env=PYTHON_ENV,
            working_dir=base_rootfs.HOLON_HOME,
            exposed_ports=(f"{OPERATOR_HEALTH_PORT}/tcp",),
            labels=_labels("holon-operator", "Holon operator for GMP MES modules (kopf)", version),
            architecture=arch,
            created_epoch=epoch,
        ),
        "pause": lambda: ImageSpec(
            name=f"{REGISTRY}/pause",
            tag=PAUSE_TAG,
            layers=stack("pause"),
            entrypoint=("/pause",),
            user=f"{PAUSE_UID}:{PAUSE_UID}",
            env=(PATH,),
            working_dir="/",
            labels=_labels("holon-pause", "Pod sandbox process (static Go)", PAUSE_TAG),
            architecture=arch,
            created_epoch=epoch,
        ),
    }
    unknown = set(only) - set(specs)
    if unknown:
        raise ValueError(f"unknown images {sorted(unknown)}; known: {sorted(specs)}")
    return [make() for name, make in specs.items() if name in only]


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    archive: Path
    digest: str
    size: int
    built: bool


def write_image(spec: ImageSpec, layer_files: dict[str, Path]) -> BuiltImage:
    docs = image_docs(spec)
    short = spec.name.rsplit("/", 1)[-1]
    archive = images_dir() / "oci" / f"{short}-{spec.tag}.oci.tar"
    built = archived_manifest_digest(archive) != docs.manifest_digest
    if built:
        write_oci_archive(
            archive, docs, {ly.blob.digest: layer_files[ly.blob.digest] for ly in spec.layers}
        )
    size = sum(ly.blob.size for ly in spec.layers) + sum(len(b) for b in docs.blobs.values())
    return BuiltImage(spec.ref, archive, docs.manifest_digest, size, built)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# layer -> the tool its recipe (and cache key) needs
LAYER_TOOLS = {"base": "debootstrap", "app": "uv", "pause": "go"}


def _print_layer(name: str, cl: CachedLayer) -> None:
    state = "built" if cl.built else "cached"
    blob = cl.file.layer.blob
    print(f"  layer {name:<6} {state:<7} {_mb(blob.size):>9}  {blob.digest[:19]}", flush=True)


def _write_summary(images: list[BuiltImage]) -> None:
    """oci/images.json, {ref: {archive, digest}}, merged: `--only` keeps the others."""
    path = images_dir() / "oci" / "images.json"
    summary: dict[str, dict[str, str]] = {}
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(path.read_text())
    summary.update({im.ref: {"archive": str(im.archive), "digest": im.digest} for im in images})
    path.write_text(json.dumps(dict(sorted(summary.items())), indent=2) + "\n")


def build(
    *, import_address: str | None, namespace: str, only: Collection[str] = tuple(IMAGE_LAYERS)
) -> list[BuiltImage]:
    """Build (or find cached) the images named in ``only``; import them if asked."""
    started = time.monotonic()
    needed = [name for name in LAYER_TOOLS if any(name in IMAGE_LAYERS[i] for i in only)]
    tools = [LAYER_TOOLS[name] for name in needed] + (["ctr"] if import_address else [])
    missing = [
        tool
        for tool in tools
        if shutil.which(tool) is None
        and not (tool == "uv" and (Path.home() / ".local" / "bin" / "uv").exists())
    ]
    if missing:
        raise SystemExit(
            f"missing tools for the images: {', '.join(missing)} (apt: debootstrap, containerd)"
        )
    machine = platform.machine()
    arch = ARCHES.get(machine)
    if arch is None:
        raise SystemExit(f"unsupported machine {machine!r} (supported: {sorted(ARCHES)})")
    version = project_version()
    goenv = pause_build.go_env(arch)

    def base() -> CachedLayer:
        def produce(stage: Path, _work: Path) -> None:
            mirror = base_rootfs.host_mirror()
            deb_cache = images_dir() / "debs"
            base_rootfs.build_rootfs(stage, mirror=mirror, arch=arch, deb_cache=deb_cache)

        key = base_rootfs.cache_key(arch=arch, debootstrap=base_rootfs.debootstrap_version())
        comment = f"debootstrap {base_rootfs.SUITE} {','.join(base_rootfs.INCLUDE)}"
        return cached_layer(key, produce, empty_dirs=base_rootfs.EMPTY_DIRS, comment=comment)

    def app() -> CachedLayer:
        def produce(stage: Path, work: Path) -> None:
            app_layer.build_app_root(REPO, stage, work, machine=machine)

        key = app_layer.cache_key(REPO, platform=app_layer.python_platform(machine))
        return cached_layer(key, produce, comment=f"holon {version} + uv.lock")

    def pause() -> CachedLayer:
        def produce(stage: Path, _work: Path) -> None:
            pause_build.build_pause_root(stage, goenv)

        return cached_layer(pause_build.cache_key(goenv), produce, comment="pause (static Go)")

    recipes: dict[str, Callable[[], CachedLayer]] = {"base": base, "app": app, "pause": pause}
    waiting = (
        "==> images: another build is running (make test starts one in the background: "
        f"{PREBUILD_LOGS / 'images.log'}); waiting for it"
    )
    with locked(images_dir() / "build.lock", waiting):
        print("==> images: layers", flush=True)
        layers = {name: recipes[name]() for name in needed}
        for name, cl in layers.items():
            _print_layer(name, cl)
        specs = image_specs(
            version,
            layers={name: cl.file.layer for name, cl in layers.items()},
            arch=arch,
            epoch=source_date_epoch(),
            only=only,
        )
        files = {cl.file.layer.blob.digest: cl.file.path for cl in layers.values()}
        print("==> images: archives", flush=True)
        images = [write_image(spec, files) for spec in specs]
        for im in images:
            state = "built" if im.built else "cached"
            print(
                f"  {im.ref:<34} {state:<7} {_mb(im.size):>9}  {im.digest[:19]}  {im.archive}",
                flush=True,
            )
        _write_summary(images)
    imported = False
    if import_address:
        print(f"==> images: import into {import_address} (namespace {namespace})", flush=True)
        for im in images:
            done = import_image(
                im.archive, im.ref, im.digest, address=import_address, namespace=namespace
            )
            imported |= done
            print(f"  {im.ref:<34} {'imported' if done else 'already present'}", flush=True)
    took = time.monotonic() - started
    note = " (import included)" if imported else ""
    if any(cl.built for cl in layers.values()) or any(im.built for im in images):
        print(f"==> images: cold build {elapsed(took).replace('m', 'm ', 1)}{note}", flush=True)
    else:
        print(f"==> images: warm (cached) in {took:.1f}s{note}", flush=True)
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m hack.images.build", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--import-address", metavar="SOCKET", help="containerd socket to import the images into"
    )
    parser.add_argument("--namespace", default="k8s.io", help="containerd namespace (k8s.io)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(IMAGE_LAYERS),
        help="build (and import) only this image; repeatable (default: all)",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "hack.images.build must run as root: debootstrap builds the base layer and only root "
            "can read every file of that root file system (try: sudo make images)",
            file=sys.stderr,
        )
        return 1
    only = tuple(args.only) if args.only else tuple(IMAGE_LAYERS)
    build(import_address=args.import_address, namespace=args.namespace, only=only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
