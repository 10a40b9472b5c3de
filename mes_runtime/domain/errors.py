"""Errors raised by the pure domain core.

Hierarchy::

    DomainError
    ├── CommandNotAllowed   a state command the ISA-88 state machine rejects
    ├── ConditionError      a transition condition that does not parse or cannot be evaluated
    ├── RecipeError         a recipe that cannot be turned into a control recipe
    └── ExecutionError      a graph run told something inconsistent (unknown or idle step)

Callers at the edges (API, engine) catch :class:`DomainError` to turn any of these into a
clean refusal; they never need to know which module raised it.
"""

from __future__ import annotations

__all__ = [
    "CommandNotAllowed",
    "ConditionError",
    "DomainError",
    "ExecutionError",
    "RecipeError",
]


class DomainError(Exception):
    """Base of every error raised by :mod:`mes_runtime.domain`."""


class CommandNotAllowed(DomainError):
    """The command is not valid in the element's current state (state is unchanged)."""


class ConditionError(DomainError):
    """A transition condition is not in the safe expression language, or lacks a value."""


class RecipeError(DomainError):
    """A master recipe cannot be instantiated (unbound unit, bad override, ...)."""


class ExecutionError(DomainError):
    """A graph run was told about a step it does not know or did not start."""
