"""MTP manifests (VDI/VDE/NAMUR 2658-1): one import for the model, loading and writing.

Plug and play means the equipment describes itself. A module's manifest lists its OPC UA
endpoint, its services with their ``ServiceControl`` variables, their procedures with
``ProcedureID`` and parameters (``AnaServParam``), and its process values (``AnaView``).
Reading is the shared, pure :mod:`mtp_manifest` (the operator's Equipment verification
reads with it too); writing is the runtime's own :mod:`mes_runtime.mtp.writer`. Both are
re-exported here for the many callers that load or write a manifest.
"""

from __future__ import annotations

from mes_runtime.mtp.writer import Structure, write_manifest, write_mtp_zip
from mtp_manifest import (
    MAX_AML_BYTES,
    MAX_XML_DEPTH,
    REQUIRED_PARAMETER_VARIABLES,
    REQUIRED_SERVICE_VARIABLES,
    ManifestError,
    ManifestIssue,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
    load_manifest,
    parse_document,
)

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
