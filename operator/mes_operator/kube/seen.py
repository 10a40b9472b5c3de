"""What the operator knows of its children without asking the API server again.

Every reconcile used to read each child back (a GET each: six per module, every timer
interval - 400 requests a second for 2,000 modules at 30 s - and ~1 s per reconcile
under load) only to find it as it was left. Now the children's watch streams (kopf
indices, one per kind, pre-populated before any handler runs) keep each child's
``resourceVersion``, and the operator remembers, per child, the version it last saw
match its manifest (after applying it, or after reading it and finding no drift).
A child whose watched version is still that one, wanted with the same manifest, is
unchanged: no request. Any write by anybody else - a hand edit, a controller, another
operator step - moves the version, so the next reconcile reads it and compares, as
before. A stale watch can only delay a drift correction to a later reconcile, never
hide one: the API server ends every watch within ``server_timeout`` and the re-list
brings the current versions.

A Deployment's index entry also keeps what its status says (generation, replicas,
status): the module's status is computed from it without reading the Deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHILD_INDICES", "ChildKey", "Seen", "index_entry"]

ChildKey = tuple[str, str, str]
"""(kind, namespace, name) of a child."""

#: kopf index id -> (group, version, plural) of each kind of child a module has
CHILD_INDICES: dict[str, tuple[str, str, str]] = {
    "holon_serviceaccounts": ("", "v1", "serviceaccounts"),
    "holon_configmaps": ("", "v1", "configmaps"),
    "holon_persistentvolumeclaims": ("", "v1", "persistentvolumeclaims"),
    "holon_deployments": ("apps", "v1", "deployments"),
    "holon_services": ("", "v1", "services"),
    "holon_poddisruptionbudgets": ("policy", "v1", "poddisruptionbudgets"),
}


def index_entry(body: Mapping[str, Any]) -> dict[ChildKey, dict[str, Any]]:
    """The index value of one watched child: its version (and a Deployment's status)."""
    meta = body.get("metadata") or {}
    key = (str(body.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
    entry: dict[str, Any] = {"metadata": {"resourceVersion": meta.get("resourceVersion")}}
    if key[0] == "Deployment":
        entry = {
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "generation": meta.get("generation"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "spec": {"replicas": (body.get("spec") or {}).get("replicas")},
            "status": dict(body.get("status") or {}),
        }
    return {key: entry}


def _version(live: Mapping[str, Any]) -> str | None:
    value = (live.get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


@dataclass
class Seen:
    """The watched children (kopf indices, by key) and the versions verified to match.

    ``verified`` outlives one reconcile: it is the process's memory (one instance, see
    :data:`VERIFIED`); ``watched`` is the indices kopf hands the handler."""

    watched: Iterable[Mapping[ChildKey, Iterable[Mapping[str, Any]]]] = ()
    verified: dict[ChildKey, tuple[str, str]] = field(default_factory=dict)

    def _watched(self, key: ChildKey) -> Mapping[str, Any] | None:
        for index in self.watched:
            store = index.get(key)
            if store is not None:
                return next(iter(store), None)
        return None

    def unchanged(self, key: ChildKey, wanted: str) -> Mapping[str, Any] | None:
        """The child as last watched, if it is the version verified to match ``wanted``
        (the manifest's digest); None when it must be read and compared."""
        remembered = self.verified.get(key)
        if remembered is None or remembered[0] != wanted:
            return None
        live = self._watched(key)
        if live is None or _version(live) != remembered[1]:
            return None
        return live

    def matched(self, key: ChildKey, wanted: str, live: Mapping[str, Any]) -> None:
        """``live`` (as read or as applied) matches the manifest whose digest is ``wanted``."""
        version = _version(live)
        if version is not None:
            self.verified[key] = (wanted, version)

    def forget(self, keys: Iterable[ChildKey]) -> None:
        """Drop what is remembered of children that are gone (a deleted module's)."""
        for key in keys:
            self.verified.pop(key, None)


VERIFIED: dict[ChildKey, tuple[str, str]] = {}
"""The operator process's memory of verified versions, shared by every reconcile."""
