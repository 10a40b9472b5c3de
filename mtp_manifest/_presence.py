"""Whether a server really has the variables a manifest declares - without an OPC UA stack.

A session to the right endpoint is not yet a working module: a manifest for another
firmware, a typo in an identifier or a namespace the server does not register leave the
node ids pointing at nothing, and every command would then fail at the worst moment.
So every declared variable is read once (in batches) and each one that does not exist or
does not read good is named with its node id and status.

The runtime (on connecting) and the operator (verifying an Equipment) both decide this,
and must decide it alike: the deciding is here, and each brings its own OPC UA session as
a ``read`` function (node ids in, a status name per node out), so this package stays free
of any client library.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from mtp_manifest._errors import ManifestError
from mtp_manifest._model import ModuleManifest

__all__ = ["READ_CHUNK", "NodeProblem", "ReadStatuses", "describe", "node_problems", "resolve"]

#: Variables per Read request (servers commonly allow a few thousand; stay well below).
READ_CHUNK = 500

NAMESPACE_NOT_SERVED = "namespace not served by the module"

ReadStatuses = Callable[[Sequence[str]], Awaitable[Sequence[str | None]]]
"""Reads the ``Value`` of each node id (``ns=3;i=1234``) in one request: per node, in order,
the OPC UA status name when it does not read good (``BadNodeIdUnknown``), else ``None``."""


@dataclass(frozen=True, slots=True)
class NodeProblem:
    """One declared variable the module does not serve (or not readably)."""

    variable: str  # manifest path, e.g. "Stirring.StateCur"
    node_id: str  # as resolved, or the manifest's namespace + identifier
    status: str  # OPC UA status name, e.g. "BadNodeIdUnknown"

    def __str__(self) -> str:
        return f"{self.variable} ({self.node_id}): {self.status}"


def describe(problems: Sequence[NodeProblem], *, limit: int = 10) -> str:
    """One line naming the problems (the first ``limit``, then how many more)."""
    shown = "; ".join(str(p) for p in problems[:limit])
    more = len(problems) - limit
    suffix = f"; and {more} more" if more > 0 else ""
    return f"{len(problems)} declared node(s) missing or bad: {shown}{suffix}"


def resolve(
    manifest: ModuleManifest, namespaces: Sequence[str]
) -> tuple[list[tuple[str, str]], list[NodeProblem]]:
    """``(variable, node id)`` of every declared variable the server's namespace array
    resolves, and a problem for each whose namespace URI it does not serve."""
    targets: list[tuple[str, str]] = []
    problems: list[NodeProblem] = []
    for variable, ref in manifest.nodes().items():
        try:
            targets.append((variable, ref.node_id(namespaces)))
        except ManifestError:
            node = f"nsu={ref.namespace};{ref.identifier}"
            problems.append(NodeProblem(variable, node, NAMESPACE_NOT_SERVED))
    return targets, problems


async def node_problems(
    manifest: ModuleManifest,
    namespaces: Sequence[str],
    read: ReadStatuses,
    *,
    chunk: int = READ_CHUNK,
) -> list[NodeProblem]:
    """Read every declared variable once, ``chunk`` per request; the missing or bad ones
    (unresolvable namespaces first, then in the manifest's order)."""
    targets, problems = resolve(manifest, namespaces)
    for start in range(0, len(targets), chunk):
        batch = targets[start : start + chunk]
        statuses = await read([node_id for _, node_id in batch])
        if len(statuses) != len(batch):
            raise ValueError(f"read answered {len(statuses)} statuses for {len(batch)} nodes")
        problems.extend(
            NodeProblem(variable, node_id, status)
            for (variable, node_id), status in zip(batch, statuses, strict=True)
            if status is not None
        )
    return problems
