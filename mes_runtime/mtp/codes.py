"""MTP service state and command codes, as the MTP edge names them.

The codes are defined in :mod:`mes_runtime.kernel.codes`, because the engine's equipment
port speaks them too; this module re-exports them for the MTP edge and the simulator.
"""

from __future__ import annotations

from mes_runtime.kernel.codes import ServiceCommand, ServiceState

__all__ = ["ServiceCommand", "ServiceState"]
