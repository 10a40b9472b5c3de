"""Equipment: the OPC UA/MTP interface check behind the Equipment resource."""

from mes_operator.equipment.check import (
    CheckResult,
    ClientCredentials,
    ManifestUnavailable,
    check_equipment,
)
from mes_operator.equipment.manifest import manifest_from_config_map, manifest_not_found

__all__ = [
    "CheckResult",
    "ClientCredentials",
    "ManifestUnavailable",
    "check_equipment",
    "manifest_from_config_map",
    "manifest_not_found",
]
