"""The base layer: a minimal Debian root file system with python3, made by debootstrap.

Why Debian packages and not a python:slim image: our machines have no Docker and reach only
package registries, and Debian's python3 (3.11 in bookworm) is the interpreter the project
targets. The mirror is read from the host's apt configuration at run time so that no mirror
host name is ever written into the repository.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from hack.images.run_progress import run_logged

SUITE = "bookworm"
# postgresql-client-15: `mes-runtime backup` runs pg_dump/pg_restore of the suite's PostgreSQL
# (a client at least as new as the server: bookworm's 15, as on the hosts that run the server)
INCLUDE = ("python3", "ca-certificates", "tzdata", "postgresql-client-15")
# Bump when the steps below change what ends up in the layer.
RECIPE_VERSION = "1"
HOLON_UID = 10001
HOLON_USER = "holon"
HOLON_HOME = "/var/lib/holon"
# Kept as (empty) directories in the layer: the runtime mounts or fills them.
EMPTY_DIRS = frozenset({"dev", "proc", "sys", "run", "tmp", "var/tmp"})
# Removed to slim the image: documentation, package indexes and caches, logs.
SLIM_GLOBS = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/lintian/*",
    "usr/share/locale/*",
    "var/lib/apt/lists/*",
    "var/cache/apt/*",
    "var/cache/debconf/*-old",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dpkg/*-old",
    "var/log/*",
)


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def _one_line_entries(text: str) -> Iterable[tuple[str, list[str]]]:
    """(uri, suites) of each `deb [options] uri suite components...` line."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], [words[2]]


def find_mirror(sources: Iterable[tuple[str, str]], suite: str = SUITE) -> str | None:
    """The archive URI serving ``suite`` from apt sources given as (file name, text) pairs:
    deb822 ``*.sources`` and one-line ``*.list`` files. An entry for the suite itself wins;
    otherwise the first one serving any plain release (no -security/-updates suffix)."""
    entries: list[tuple[str, list[str]]] = []
    for name, text in sources:
        if name.endswith(".sources"):
            for st in _deb822_stanzas(text):
                if "deb" not in st.get("types", "").split():
                    continue
                if st.get("enabled", "yes").lower() == "no":
                    continue
                uris = st.get("uris", "").split()
                if uris:
                    entries.append((uris[0], st.get("suites", "").split()))
        elif name.endswith(".list"):
            entries.extend(_one_line_entries(text))
    for uri, suites in entries:
        if suite in suites:
            return uri
    for uri, suites in entries:
        if any("-" not in s and "/" not in s for s in suites):
            return uri
    return None


def host_mirror(suite: str = SUITE, etc_apt: Path = Path("/etc/apt")) -> str:
    files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*"))]
    sources = [(f.name, f.read_text(errors="replace")) for f in files if f.is_file()]
    mirror = find_mirror(sources, suite)
    if mirror is None:
        raise SystemExit(f"no Debian mirror for {suite} found in {etc_apt}'s apt sources")
    return mirror


def debootstrap_version() -> str:
    out = subprocess.run(
        ["debootstrap", "--version"], check=True, capture_output=True, text=True
    ).stdout
    return out.strip().split()[-1]


def cache_key(*, arch: str, debootstrap: str) -> str:
    """Everything that decides the layer's recipe (not the mirror: any mirror serves the
    same suite)."""
    h = hashlib.sha256()
    for part in (SUITE, ",".join(INCLUDE), arch, debootstrap, RECIPE_VERSION):
        h.update(part.encode() + b"\0")
    return f"base-{SUITE}-{h.hexdigest()[:16]}"


def add_user(root: Path) -> None:
    """The non-root user the Holon images run as (uid/gid 10001), idempotently."""
    for name, line in (
        ("passwd", f"{HOLON_USER}:x:{HOLON_UID}:{HOLON_UID}:Holon:{HOLON_HOME}:/usr/sbin/nologin"),
        ("group", f"{HOLON_USER}:x:{HOLON_UID}:"),
    ):
        path = root / "etc" / name
        text = path.read_text()
        if not any(row.split(":")[0] == HOLON_USER for row in text.splitlines()):
            path.write_text(text.rstrip("\n") + "\n" + line + "\n")


def slim(root: Path) -> None:
    for pattern in SLIM_GLOBS:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def build_rootfs(dest: Path, *, mirror: str, arch: str, deb_cache: Path) -> None:
    """debootstrap a minbase ``SUITE`` with ``INCLUDE`` into ``dest``, then slim it."""
    deb_cache.mkdir(parents=True, exist_ok=True)
    run_logged(
        "debootstrap",
        [
            "debootstrap",
            "--variant=minbase",
            f"--arch={arch}",
            "--components=main",
            f"--include={','.join(INCLUDE)}",
            f"--cache-dir={deb_cache}",
            SUITE,
            str(dest),
            mirror,
        ],
    )
    slim(dest)
    add_user(dest)
