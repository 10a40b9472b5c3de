"""Whether a module really has the variables its manifest declares.

A session to the right endpoint is not yet a working module: a manifest for another
firmware, a typo in an identifier or a namespace the server does not register leave the
node ids pointing at nothing, and every command would then fail at the worst moment.
So, on connecting, every declared variable is read once (in batches) and each one that
does not exist or does not read good is named with its node id and status; the module
counts as connected only when there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds

from mes_runtime.mtp.errors import ManifestError
from mes_runtime.mtp.model import ModuleManifest

__all__ = ["NodeProblem", "describe", "node_problems"]

#: Variables per Read request (servers commonly allow a few thousand; stay well below).
READ_CHUNK = 500


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


async def node_problems(
    client: Client, manifest: ModuleManifest, namespaces: Sequence[str]
) -> list[NodeProblem]:
    """Read every declared variable once; the ones that are missing or not good."""
    problems: list[NodeProblem] = []
    targets: list[tuple[str, str, ua.NodeId]] = []
    for variable, ref in manifest.nodes().items():
        try:
            text = ref.node_id(namespaces)
        except ManifestError:
            problems.append(
                NodeProblem(
                    variable,
                    f"nsu={ref.namespace};{ref.identifier}",
                    "namespace not served by the module",
                )
            )
            continue
        targets.append((variable, text, ua.NodeId.from_string(text)))
    for start in range(0, len(targets), READ_CHUNK):
        chunk = targets[start : start + READ_CHUNK]
        parameters = ua.ReadParameters()
        for _, _, node_id in chunk:
            parameters.NodesToRead.append(
                ua.ReadValueId(NodeId=node_id, AttributeId=AttributeIds.Value)
            )
        results = await client.uaclient.read(parameters)
        for (variable, text, _), result in zip(chunk, results, strict=True):
            status = result.StatusCode
            if status is not None and not status.is_good():
                problems.append(NodeProblem(variable, text, status.name))
    return problems
