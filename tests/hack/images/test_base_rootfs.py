"""The base layer's pure parts: mirror discovery from apt sources, user, slimming, key.

Mirror names below are reserved example domains (RFC 2606), never real mirrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.images import base_rootfs
from hack.images.base_rootfs import add_user, cache_key, find_mirror, host_mirror, slim

DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.example.org/debian
 http://second.example.org/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_deb822_stanza_serving_the_suite_wins() -> None:
    assert find_mirror([("debian.sources", DEB822)], "bookworm") == (
        "http://mirror.example.org/debian"
    )


def test_disabled_and_source_only_stanzas_are_ignored() -> None:
    text = """\
Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm

Types: deb
URIs: http://on.example.org/debian
Suites: bookworm
"""
    assert find_mirror([("x.sources", text)], "bookworm") == "http://on.example.org/debian"


def test_one_line_lists_with_options_are_read() -> None:
    text = (
        "# deb http://commented.example.org/debian bookworm main\n"
        "deb-src http://src.example.org/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://list.example.org/debian bookworm main\n"
    )
    assert find_mirror([("sources.list", text)], "bookworm") == ("http://list.example.org/debian")


def test_falls_back_to_a_plain_release_of_another_suite() -> None:
    text = (
        "deb http://sec.example.org/d trixie-security main\n"
        "deb http://m.example.org/d trixie main\n"
    )
    assert find_mirror([("sources.list", text)], "bookworm") == "http://m.example.org/d"


def test_files_apt_ignores_are_ignored() -> None:
    assert find_mirror([("debian.sources.disabled", DEB822)], "bookworm") is None
    assert find_mirror([], "bookworm") is None


def test_host_mirror_reads_an_apt_directory(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert host_mirror("bookworm", tmp_path) == "http://mirror.example.org/debian"


def test_add_user_appends_holon_once(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash")
    (tmp_path / "etc" / "group").write_text("root:x:0:\n")
    add_user(tmp_path)
    add_user(tmp_path)
    assert (tmp_path / "etc" / "passwd").read_text().splitlines() == [
        "root:x:0:0:root:/root:/bin/bash",
        "holon:x:10001:10001:Holon:/var/lib/holon:/usr/sbin/nologin",
    ]
    assert (tmp_path / "etc" / "group").read_text() == "root:x:0:\nholon:x:10001:\n"


def test_slim_removes_docs_and_caches_but_keeps_their_directories(tmp_path: Path) -> None:
    for rel in (
        "usr/share/doc/python3/copyright",
        "usr/share/man/man1/python3.1.gz",
        "var/lib/apt/lists/some_Packages",
        "var/log/dpkg.log",
        "usr/share/zoneinfo/UTC",
        "usr/lib/python3.11/os.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "usr/share/doc/link").symlink_to("python3")
    slim(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["usr/lib/python3.11/os.py", "usr/share/zoneinfo/UTC"]
    assert (tmp_path / "usr/share/doc").is_dir()
    assert (tmp_path / "var/log").is_dir()
    assert not (tmp_path / "usr/share/doc/link").is_symlink()


def test_cache_key_follows_the_recipe() -> None:
    key = cache_key(arch="amd64", debootstrap="1.0.128")
    assert key.startswith("base-bookworm-")
    assert key == cache_key(arch="amd64", debootstrap="1.0.128")
    assert key != cache_key(arch="arm64", debootstrap="1.0.128")
    assert key != cache_key(arch="amd64", debootstrap="1.0.129")


def test_cache_key_changes_with_the_recipe_version(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache_key(arch="amd64", debootstrap="1.0.128")
    monkeypatch.setattr(base_rootfs, "RECIPE_VERSION", base_rootfs.RECIPE_VERSION + "x")
    assert cache_key(arch="amd64", debootstrap="1.0.128") != key
