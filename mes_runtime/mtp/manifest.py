"""MTP manifests (VDI/VDE/NAMUR 2658-1): one import for the model, loading and writing.

Plug and play means the equipment describes itself. A module's manifest lists its OPC UA
endpoint, its services with their ``ServiceControl`` variables, their procedures with
``ProcedureID`` and parameters (``AnaServParam``), and its process values (``AnaView``).
The work is done in four modules, re-exported here for the many callers that load or
write a manifest:

* :mod:`mes_runtime.mtp.model`    - what the runtime knows about a module;
* :mod:`mes_runtime.mtp.document` - a ``.aml``/``.mtp`` to a safely parsed, bounded XML root;
* :mod:`mes_runtime.mtp.reader`   - that root to a :class:`ModuleManifest` (vendor or Holon);
* :mod:`mes_runtime.mtp.writer`   - a :class:`ModuleManifest` back to AutomationML.
"""

from __future__ import annotations

from mes_runtime.mtp.document import MAX_AML_BYTES, MAX_XML_DEPTH, load_manifest, parse_document
from mes_runtime.mtp.errors import ManifestError
from mes_runtime.mtp.model import (
    ManifestIssue,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
)
from mes_runtime.mtp.reader import REQUIRED_PARAMETER_VARIABLES, REQUIRED_SERVICE_VARIABLES
from mes_runtime.mtp.writer import Structure, write_manifest, write_mtp_zip

__all__ = [
    "MAX_AML_BYTES",
    "MAX_XML_DEPTH",
    "REQUIRED_PARAMETER_VARIABLES",
    "REQUIRED_SERVICE_VARIABLES",
    "ManifestError",
    "ManifestIssue",
    "ModuleManifest",
    "NodeRef",
    "ParameterManifest",
    "ProcedureManifest",
    "ProcessValueManifest",
    "ServiceManifest",
    "Structure",
    "load_manifest",
    "parse_document",
    "write_manifest",
    "write_mtp_zip",
]
