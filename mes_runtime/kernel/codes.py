"""MTP service state and command codes (VDI/VDE/NAMUR 2658-4, ``StateCur`` / ``CommandOp``).

Each state and command is one bit, so ``CommandEn`` is a bit mask of enabled commands.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ServiceCommand", "ServiceState"]


class ServiceState(IntEnum):
    """Service state machine states (``StateCur``)."""

    STOPPED = 4
    STARTING = 8
    IDLE = 16
    PAUSED = 32
    EXECUTE = 64
    STOPPING = 128
    ABORTING = 256
    ABORTED = 512
    HOLDING = 1024
    HELD = 2048
    UNHOLDING = 4096
    PAUSING = 8192
    RESUMING = 16384
    RESETTING = 32768
    COMPLETING = 65536
    COMPLETED = 131072


class ServiceCommand(IntEnum):
    """Service commands (``CommandOp`` / ``CommandExt``); ``CommandEn`` masks them."""

    RESET = 2
    START = 4
    STOP = 8
    HOLD = 16
    UNHOLD = 32
    PAUSE = 64
    RESUME = 128
    ABORT = 256
    RESTART = 512
    COMPLETE = 1024
