"""How reconcile steps report what they did, without knowing about kopf.

The handlers pass a sink that posts Kubernetes Events on the resource (what
``kubectl describe`` shows); tests pass a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class Event:
    """One Kubernetes Event: Normal or Warning, a CamelCase reason, a sentence."""

    type: str
    reason: str
    message: str


class EventSink(Protocol):
    """Something that records Events about one resource."""

    def __call__(self, event: Event) -> None:
        """Record ``event``."""
