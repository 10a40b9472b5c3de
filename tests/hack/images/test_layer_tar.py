"""Layer tarballs are deterministic: the same tree gives the same digests, any change to
content, mode or ownership gives others, and file times never matter."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from hack.images.layer_tar import walk_sorted, write_layer


def _tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "usr" / "bin").mkdir(parents=True)
    tool = root / "usr" / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    (root / "usr" / "bin" / "alias").symlink_to("tool")
    os.link(tool, root / "usr" / "bin" / "hard")
    (root / "tmp").mkdir()
    (root / "tmp" / "junk").write_text("scratch")
    (root / "B").write_text("upper case sorts first")
    return root


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def test_two_builds_of_the_same_tree_are_identical(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    one = write_layer(root, tmp_path / "one.tar.gz")
    os.utime(root / "etc" / "passwd", (1_000_000, 1_000_000))  # times never count
    two = write_layer(root, tmp_path / "two.tar.gz")
    assert one.layer == two.layer
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()


def test_a_changed_file_changes_both_digests(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    before = write_layer(root, tmp_path / "a.tar.gz").layer
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    after = write_layer(root, tmp_path / "b.tar.gz").layer
    assert after.diff_id != before.diff_id
    assert after.blob.digest != before.blob.digest


def test_a_changed_mode_changes_the_digest(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    before = write_layer(root, tmp_path / "a.tar.gz").layer
    (root / "etc" / "passwd").chmod(0o600)
    assert write_layer(root, tmp_path / "b.tar.gz").layer.diff_id != before.diff_id


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_numeric_owner_is_kept_and_names_are_dropped(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    before = write_layer(root, tmp_path / "a.tar.gz").layer
    os.chown(root / "etc" / "passwd", 10001, 10002)
    out = write_layer(root, tmp_path / "b.tar.gz")
    assert out.layer.diff_id != before.diff_id
    member = {m.name: m for m in _members(out.path)}["etc/passwd"]
    assert (member.uid, member.gid, member.uname, member.gname) == (10001, 10002, "", "")


def test_digests_and_size_describe_the_written_bytes(tmp_path: Path) -> None:
    out = write_layer(_tree(tmp_path / "root"), tmp_path / "l.tar.gz")
    data = out.path.read_bytes()
    assert out.layer.blob.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert out.layer.blob.size == len(data)
    assert out.layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert data[3] & 0x08 == 0  # no file name in the gzip header


def test_entries_are_sorted_with_fixed_times_and_links_kept(tmp_path: Path) -> None:
    out = write_layer(_tree(tmp_path / "root"), tmp_path / "l.tar.gz", mtime=1234)
    members = _members(out.path)
    names = [m.name for m in members]
    assert names == [
        "B",
        "etc",
        "etc/passwd",
        "tmp",
        "tmp/junk",
        "usr",
        "usr/bin",
        "usr/bin/alias",
        "usr/bin/hard",
        "usr/bin/tool",
    ]
    assert {m.mtime for m in members} == {1234}
    by_name = {m.name: m for m in members}
    assert by_name["usr/bin/alias"].issym()
    assert by_name["usr/bin/alias"].linkname == "tool"
    # the first of two hard links holds the data, the second points at it
    assert by_name["usr/bin/hard"].isfile()
    assert by_name["usr/bin/tool"].islnk()
    assert by_name["usr/bin/tool"].linkname == "usr/bin/hard"
    assert by_name["usr/bin/hard"].mode & 0o777 == 0o755


def test_empty_dirs_keep_the_directory_but_not_its_contents(tmp_path: Path) -> None:
    out = write_layer(
        _tree(tmp_path / "root"), tmp_path / "l.tar.gz", empty_dirs=frozenset({"tmp"})
    )
    names = [m.name for m in _members(out.path)]
    assert "tmp" in names
    assert "tmp/junk" not in names


def test_file_contents_round_trip(tmp_path: Path) -> None:
    out = write_layer(_tree(tmp_path / "root"), tmp_path / "l.tar.gz")
    with tarfile.open(out.path, "r:gz") as tar:
        f = tar.extractfile("etc/passwd")
        assert f is not None
        assert f.read() == b"root:x:0:0::/root:/bin/sh\n"


def test_walk_sorted_orders_by_bytes_and_skips_symlinked_dirs(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x").write_text("")
    (root / "link").symlink_to("a")
    (root / "Z").write_text("")
    assert list(walk_sorted(root)) == ["Z", "a", "a/x", "link"]


def test_sockets_are_left_out(tmp_path: Path) -> None:
    import socket

    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "s.sock"))
        out = write_layer(root, tmp_path / "l.tar.gz")
    finally:
        sock.close()
    assert [m.name for m in _members(out.path)] == ["f"]
    assert io.BytesIO(out.path.read_bytes()).read(2) == b"\x1f\x8b"
