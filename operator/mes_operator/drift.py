"""Which of the fields we own differ between desired and live objects (pure).

Only the leaves we set are compared: the API server adds defaults and other
controllers add their own fields, and neither is drift. What someone changed by hand
(an image, the replica count, a label we own) is, and is reported by path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def drifted_paths(desired: Any, actual: Any, path: str = "") -> list[str]:
    """Dotted paths of the desired leaves that the live object does not match."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return [path or "."]
        paths: list[str] = []
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                if not _is_empty(value):
                    paths.append(sub)
                continue
            paths.extend(drifted_paths(value, actual[key], sub))
        return paths
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(actual, Sequence) or isinstance(actual, str):
            return [path]
        if len(desired) != len(actual):
            return [path]
        paths = []
        for index, (want, have) in enumerate(zip(desired, actual, strict=True)):
            paths.extend(drifted_paths(want, have, f"{path}[{index}]"))
        return paths
    return [] if desired == actual else [path]


def _is_empty(value: Any) -> bool:
    """Empty maps and lists are dropped by the API server; their absence is no drift."""
    return isinstance(value, Mapping | list) and not value
