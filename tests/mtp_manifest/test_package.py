"""The shared manifest reader stays pure when it is imported, not only on paper.

``make lint`` checks the imports in the source (the ``manifest-reader-pure`` contract);
this imports the package in a fresh interpreter and looks at what actually got loaded, so
an import hidden behind a function, a plugin or a transitive dependency shows too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mtp_manifest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("asyncua", "sqlalchemy", "fastapi", "starlette", "kopf", "lightkube")
OURS = ("mes_runtime", "mes_operator", "holon_testing")


def test_importing_and_reading_loads_no_client_framework_or_program() -> None:
    code = (
        "import json, sys; import mtp_manifest; "
        "from holon_testing.vendor_mtp import build, to_bytes; "
        "from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER; "
        "mtp_manifest.load_manifest(to_bytes(build(STIRRER))); "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        )
    )
    assert "mtp_manifest" in loaded
    assert not loaded & set(FORBIDDEN)


def test_the_package_alone_imports_nothing_of_ours() -> None:
    code = "import json, sys; import mtp_manifest; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    assert not {m.split(".")[0] for m in loaded} & {*FORBIDDEN, *OURS}


def test_the_public_api_is_what_all_lists() -> None:
    assert sorted(mtp_manifest.__all__) == sorted(
        n for n in dir(mtp_manifest) if not n.startswith("_") and n != "annotations"
    )
