"""MTP manifests (VDI/VDE/NAMUR 2658-1) read as vendors write them: pure, shared, bounded.

Plug and play means the equipment describes itself: a module's manifest (AutomationML /
CAEX, a ``.aml`` document or a zipped ``.mtp``) lists its OPC UA endpoint, its services
with their ``ServiceControl`` variables, procedures and parameters, and its process values.
Two programs read it and must read it alike - the runtime, which drives the module, and
the operator, whose Equipment verification checks that the module serves every node the
manifest declares - and they may not import each other. So the reader lives here, with no
I/O beyond the bytes it is handed: no OPC UA client, no database, no web framework (an
import-linter contract in ``pyproject.toml`` keeps it so).

Private modules, one concept each, re-exported below:

* ``_errors``   - :class:`ManifestError`, located;
* ``_model``    - :class:`ModuleManifest` and its parts, :class:`ManifestIssue`;
* ``_caex``     - namespace-agnostic CAEX access and class derivation;
* ``_units``    - 2658 unit codes to unit names;
* ``_reader``   - a CAEX root to a :class:`ModuleManifest` (manifest 1.0.0, 1.1.0, Holon's);
* ``_document`` - a ``.aml``/``.mtp`` to a safely parsed, bounded XML root, then read;
* ``_presence`` - which declared nodes a server lacks, given a ``read`` function.
"""

from __future__ import annotations

from mtp_manifest._document import MAX_AML_BYTES, MAX_XML_DEPTH, load_manifest, parse_document
from mtp_manifest._errors import ManifestError
from mtp_manifest._model import (
    ManifestIssue,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
)
from mtp_manifest._presence import (
    READ_CHUNK,
    NodeProblem,
    ReadStatuses,
    describe,
    node_problems,
    resolve,
)
from mtp_manifest._reader import (
    REQUIRED_PARAMETER_VARIABLES,
    REQUIRED_SERVICE_VARIABLES,
    read_document,
)
from mtp_manifest._units import UNIT_NAMES, unit_name

__all__ = [
    "MAX_AML_BYTES",
    "MAX_XML_DEPTH",
    "READ_CHUNK",
    "REQUIRED_PARAMETER_VARIABLES",
    "REQUIRED_SERVICE_VARIABLES",
    "UNIT_NAMES",
    "ManifestError",
    "ManifestIssue",
    "ModuleManifest",
    "NodeProblem",
    "NodeRef",
    "ParameterManifest",
    "ProcedureManifest",
    "ProcessValueManifest",
    "ReadStatuses",
    "ServiceManifest",
    "describe",
    "load_manifest",
    "node_problems",
    "parse_document",
    "read_document",
    "resolve",
    "unit_name",
]
