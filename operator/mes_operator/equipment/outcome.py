"""What an Equipment check takes and gives: plain data, without the OPC UA client.

Kept apart from :mod:`mes_operator.equipment.check` so that the status, the evidence and
the reconcile can name a check's outcome without importing asyncua: its import alone is
~85 MB of the operator's resident memory (issue #18), paid only once an Equipment is
checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtp_manifest import NodeProblem

__all__ = ["CheckResult", "ClientCredentials", "ManifestUnavailable"]


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    """What the operator presents when the endpoint requires a secure channel."""

    policy: str
    mode: str
    certificate: bytes
    private_key: bytes


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """Outcome of one check; ``reason`` is a CamelCase condition reason.

    ``found`` and ``missing`` follow the order of the required services; ``offered`` is
    every service the endpoint has, sorted (empty when the browse never happened).
    """

    connected: bool
    verified: bool
    reason: str
    message: str
    duration_seconds: float
    found: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    offered: tuple[str, ...] = ()
    missing_nodes: tuple[NodeProblem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ManifestUnavailable:
    """Why the spec's manifest could not be had (``ManifestNotFound``, ``ManifestInvalid``):
    the check still connects, so Connected stays true to the endpoint, but verifies nothing."""

    reason: str
    message: str
