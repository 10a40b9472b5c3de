"""What a module offers, in the domain's vocabulary, read from its MTP manifest.

The recipe side (``EquipmentRequirement``) and the equipment side share
:class:`mes_runtime.domain.capabilities.Capabilities`, so binding a unit to a module and
validating a recipe against the plant are plain comparisons.
"""

from __future__ import annotations

from mes_runtime.domain.capabilities import (
    Capabilities,
    Capability,
    ParameterSpec,
    ProcessValueSpec,
)
from mtp_manifest import ModuleManifest

__all__ = ["capabilities_of"]


def capabilities_of(manifest: ModuleManifest) -> Capabilities:
    """Every service procedure (with parameter units and ranges) and process value."""
    return Capabilities(
        procedures=tuple(
            Capability(
                service=service.name,
                procedure=procedure.name,
                parameters=tuple(
                    ParameterSpec(name=p.name, unit=p.unit, low=p.minimum, high=p.maximum)
                    for p in procedure.parameters.values()
                ),
                self_completing=procedure.self_completing,
            )
            for service in manifest.services.values()
            for procedure in service.procedures.values()
        ),
        process_values=tuple(
            ProcessValueSpec(name=pv.name, unit=pv.unit) for pv in manifest.process_values.values()
        ),
    )
