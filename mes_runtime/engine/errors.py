"""Errors the batch engine raises to its callers (the API maps them to 4xx).

::

    EngineError
    ├── UnknownBatch            no such batch in this engine          -> 404
    ├── UnknownElement          no element at that path in the batch  -> 404
    └── CommandRejected         the command is not allowed here/now   -> 409

    EquipmentError              (mes_runtime.kernel.errors, raised by the equipment port)
    └── EquipmentUnavailable    the module bound to the element is unreachable -> 409

``EquipmentUnavailable`` is the kernel's one class, re-exported here: the engine raises it
and the MTP edge raises it, so the engine catches :class:`EquipmentError` from its port and
nothing broader.

A command that raises leaves every element state unchanged. ``CommandRejected`` and an
``EquipmentUnavailable`` found before the command is sent (a module not connected) leave
no journal entry either; a command the equipment itself refuses is journalled with a
following ``command.failed`` entry.
"""

from __future__ import annotations

from mes_runtime.kernel.errors import EquipmentError, EquipmentUnavailable

__all__ = [
    "CommandRejected",
    "EngineError",
    "EquipmentError",
    "EquipmentUnavailable",
    "UnknownBatch",
    "UnknownElement",
]


class EngineError(Exception):
    """Base class of every error the engine reports to a caller."""


class UnknownBatch(EngineError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"no batch {batch_id!r} is running in this runtime")
        self.batch_id = batch_id


class UnknownElement(EngineError):
    def __init__(self, batch_id: str, path: str) -> None:
        super().__init__(f"batch {batch_id!r} has no procedural element at path {path!r}")
        self.batch_id = batch_id
        self.path = path


class CommandRejected(EngineError):
    """The command is not allowed for the element's state or by engine policy."""
