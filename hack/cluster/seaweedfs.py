"""Build SeaweedFS's `weed` (Apache-2.0) from its Go module, once, and cache it.

The local cluster and the backup tests need a real S3-compatible object store; MinIO is
AGPL, SeaweedFS is Apache-2.0 and served by the Go module proxy. `go install module@version`
refuses it (its go.mod has a `replace` directive), so the module is downloaded and built in
its own directory, where it is the main module and its replace and go.sum apply
(:class:`hack.cluster.gobuild.GoTool`: cached in ~/.cache/holon/bin/<key>/weed).

    python3 -m hack.cluster.seaweedfs build   # build if missing (progress: stderr), print path
    python3 -m hack.cluster.seaweedfs path    # print the path if cached, exit 1 otherwise
"""

from __future__ import annotations

import sys

from hack.cluster.gobuild import GoTool

MODULE = "github.com/seaweedfs/seaweedfs"
VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
TOOL = GoTool(name="seaweedfs", binary_name="weed", module=MODULE, version=VERSION,
              package="./weed")  # fmt: skip
binary, cached, build = TOOL.binary, TOOL.cached, TOOL.build

if __name__ == "__main__":
    raise SystemExit(TOOL.main(sys.argv[1:], __doc__ or ""))
