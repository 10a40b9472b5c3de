"""Errors raised by the MTP edge; callers catch :class:`EquipmentError` for all of them.

Hierarchy (``EquipmentError`` and ``EquipmentUnavailable`` are the kernel's, shared with the
engine and the API; ``ManifestError`` is the shared manifest reader's, :mod:`mtp_manifest`,
re-exported here)::

    EquipmentError
    ├── EquipmentUnavailable   no live OPC UA session to the module (or no such module), or
    │                          the session failed during a request
    └── MtpError
        ├── UnknownElement     service / procedure / parameter not in the module's manifest
        ├── CommandNotEnabled  CommandEn does not enable the command in the current state
        ├── ParameterRejected  the module did not take a parameter value (VOut differs)
        └── HandshakeTimeout   the module did not reach the requested mode/source in time

    ValueError
    └── ManifestError          the manifest is not a usable MTP description (located)
"""

from __future__ import annotations

from mes_runtime.kernel.codes import ServiceCommand, ServiceState
from mes_runtime.kernel.errors import EquipmentError, EquipmentUnavailable
from mtp_manifest import ManifestError

__all__ = [
    "CommandNotEnabled",
    "EquipmentError",
    "EquipmentUnavailable",
    "HandshakeTimeout",
    "ManifestError",
    "MtpError",
    "ParameterRejected",
    "UnknownElement",
]


class MtpError(EquipmentError):
    """Base of the MTP edge's own errors."""


class UnknownElement(MtpError, KeyError):
    """A service, procedure or parameter that the module's manifest does not offer."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CommandNotEnabled(MtpError):
    """``CommandEn`` does not enable the command: names service, command and state."""

    def __init__(
        self, equipment: str, service: str, command: ServiceCommand, state: ServiceState | int
    ) -> None:
        state_name = state.name if isinstance(state, ServiceState) else str(state)
        super().__init__(
            f"{equipment}/{service}: command {command.name} is not enabled in state {state_name}"
        )
        self.equipment = equipment
        self.service = service
        self.command = command
        self.state = state


class ParameterRejected(MtpError):
    """The module kept another value than the one written (out of range, wrong mode...)."""


class HandshakeTimeout(MtpError):
    """The module did not confirm the requested operation mode / source in time."""
