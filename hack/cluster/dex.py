"""Build Dex (Apache-2.0), the OpenID Connect provider of the sign-in tests, from its Go
module, once, and cache it.

The runtime's OIDC sign-in is tested against a real provider, not a mock: Dex, the one the
Kubernetes ecosystem uses, served by the Go module proxy. Its go.mod has a `replace`
directive (its api/v2 module), so `go install module@version` refuses it, as it does
SeaweedFS: the module is downloaded and built in its own directory. v2.41.1 is the newest
release the proxy serves here (as the pseudo-version of its commit; the module path has no
/v2, so its tags are not module versions). Its command needs cgo (SQLite storage), so a C
compiler too (gcc).

Cached in ~/.cache/holon/bin/<key>/dex (:class:`hack.cluster.gobuild.GoTool`).

    python3 -m hack.cluster.dex build   # build if missing (progress: stderr), print path
    python3 -m hack.cluster.dex path    # print the path if cached, exit 1 otherwise
"""

from __future__ import annotations

import sys
from pathlib import Path

from hack.cluster.gobuild import GoTool

MODULE = "github.com/dexidp/dex"
VERSION = "v0.0.0-20240807174518-43956db7fd75"  # v2.41.1
# Dex's go.mod replaces its api/v2 module with ./api/v2, a nested module that the module
# zip leaves out: the build uses a copy of go.mod (-modfile) that takes it from the proxy.
API_MODULE = "github.com/dexidp/dex/api/v2"
API_VERSION = "v2.1.1-0.20240807174518-43956db7fd75"
# Its hashes, pinned here: the checksum database has no entry for this pseudo-version, and a
# go.sum line is what the go command then checks the download against.
API_SUMS = (
    f"{API_MODULE} {API_VERSION} h1:+6yv8pY6NPzvEExj/rWp8xu9LZNNUQImWofqpcaW+Og=\n"
    f"{API_MODULE} {API_VERSION}/go.mod h1:wW7pJO4K9SxAgwjTWGv9jzBS6sbKcItdtbC25uJoZvg=\n"
)


def _modfile(source: Path, tmp: Path) -> list[str]:
    """The build arguments for a copy of Dex's go.mod (and go.sum) whose api/v2 comes from
    the module proxy."""
    text = (source / "go.mod").read_text()
    local = f"replace {API_MODULE} => ./api/v2"
    if local not in text:
        raise SystemExit(f"dex's go.mod no longer has {local!r}: update hack/cluster/dex.py")
    modfile = tmp / "dex.mod"
    modfile.write_text(text.replace(local, f"replace {API_MODULE} => {API_MODULE} {API_VERSION}"))
    (tmp / "dex.sum").write_text((source / "go.sum").read_text() + API_SUMS)
    return ["-mod=mod", f"-modfile={modfile}"]


TOOL = GoTool(
    name="dex", binary_name="dex", module=MODULE, version=VERSION, package="./cmd/dex",
    cold="a few minutes", key_parts=(API_VERSION,), build_args=_modfile,
)  # fmt: skip
binary, cached, build = TOOL.binary, TOOL.cached, TOOL.build

if __name__ == "__main__":
    raise SystemExit(TOOL.main(sys.argv[1:], __doc__ or ""))
