"""The pause layer: one static Go binary, /pause (source in pause/main.go).

Go's module and build caches are shared with the cluster build (~/.cache/holon/go), and
the build is reproducible (-trimpath, no VCS stamp, no cgo), so the layer digest is stable.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from hack import project
from hack.images.run_progress import run_logged

SOURCE = Path(__file__).resolve().parent / "pause"
LDFLAGS = "-s -w"
RECIPE_VERSION = "1"


def go_env(goarch: str) -> dict[str, str]:
    """The shared Go environment (hack.project), building a static linux/``goarch`` binary."""
    return {**project.go_env(), "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": goarch}


def go_version(env: dict[str, str]) -> str:
    out = subprocess.run(
        ["go", "env", "GOVERSION"], cwd=SOURCE, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def cache_key(env: dict[str, str]) -> str:
    h = hashlib.sha256()
    for part in (RECIPE_VERSION, LDFLAGS, env["GOARCH"], go_version(env)):
        h.update(part.encode() + b"\0")
    for path in (SOURCE / "go.mod", SOURCE / "main.go", Path(__file__)):
        h.update(path.read_bytes())
    return f"pause-{h.hexdigest()[:16]}"


def build_pause_root(stage: Path, env: dict[str, str]) -> None:
    if shutil.which("go") is None:
        raise SystemExit("go is not on PATH: it builds the pause image's binary")
    stage.mkdir(parents=True, exist_ok=True)
    out = stage / "pause"
    run_logged(
        "pause",
        ["go", "build", "-trimpath", "-ldflags", LDFLAGS, "-o", str(out), "."],
        cwd=SOURCE,
        env=env,
    )
    out.chmod(0o755)
