"""Equipment: the OPC UA/MTP interface check behind the Equipment resource.

The check itself (:mod:`mes_operator.equipment.check`, asyncua) is imported where a check
runs, not here: importing any part of this package must not load the OPC UA client.
"""

from mes_operator.equipment.manifest import manifest_from_config_map, manifest_not_found
from mes_operator.equipment.outcome import CheckResult, ClientCredentials, ManifestUnavailable

__all__ = [
    "CheckResult",
    "ClientCredentials",
    "ManifestUnavailable",
    "manifest_from_config_map",
    "manifest_not_found",
]
