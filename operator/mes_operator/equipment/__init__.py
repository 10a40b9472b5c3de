"""Equipment: the OPC UA/MTP interface check behind the Equipment resource."""

from mes_operator.equipment.check import CheckResult, ClientCredentials, check_equipment

__all__ = ["CheckResult", "ClientCredentials", "check_equipment"]
