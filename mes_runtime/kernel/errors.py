"""The errors an equipment port raises; the engine catches these and nothing broader.

Hierarchy::

    EquipmentError              anything an equipment port reports as failed
    ├── EquipmentUnavailable    the module is unreachable, unknown, busy, or refused
    └── mes_runtime.mtp.errors.MtpError   the MTP edge's own, more precise errors

One :class:`EquipmentUnavailable` serves every layer: the MTP edge raises it when a module
has no live session, the engine raises it when a command cannot reach a module, and the
API maps it to 409.
"""

from __future__ import annotations

__all__ = ["EquipmentError", "EquipmentUnavailable"]


class EquipmentError(Exception):
    """Base of every error an equipment port (``EquipmentPort``) raises."""


class EquipmentUnavailable(EquipmentError):
    """The equipment is not connected (or unknown), not ready, or refused the command."""
