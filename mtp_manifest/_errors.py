"""The one error the manifest reader raises.

Hierarchy::

    ValueError
    └── ManifestError   the manifest is not a usable MTP description; names the element
                        path (and CAEX ID) of the first problem and lists every error

The runtime re-exports it from ``mes_runtime.mtp.errors`` (an import refused by its API as
422); the operator turns it into ``Verified=False`` with the same located message. It is
not an equipment error: nothing has been asked of a module yet when a manifest is read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ManifestError"]


class ManifestError(ValueError):
    """The manifest is not a usable MTP description; the message names the element path.

    ``path``/``problem`` are the first problem; ``issues`` (``ManifestIssue`` objects)
    lists every problem the reader found, errors first, when it got far enough to collect
    more than one.
    """

    def __init__(
        self, path: str, problem: str, *, element_id: str = "", issues: tuple[Any, ...] = ()
    ) -> None:
        first = f"{path}: {problem}" if path else problem
        more = [str(i) for i in issues[1:] if getattr(i, "severity", "") == "error"]
        super().__init__("; ".join([first, *more]))
        self.path = path
        self.problem = problem
        self.element_id = element_id
        self.issues = issues
