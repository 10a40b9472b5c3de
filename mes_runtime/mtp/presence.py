"""Whether a module really has the variables its manifest declares, over asyncua.

The deciding is the shared reader's (:mod:`mtp_manifest`, also used by the operator's
Equipment verification, so that both name the same missing nodes); this adds the one
OPC UA request it needs: a batched Read of each node's ``Value``.
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds

from mtp_manifest import ModuleManifest, NodeProblem, describe
from mtp_manifest import node_problems as shared_node_problems

__all__ = ["NodeProblem", "describe", "node_problems", "read_statuses"]


async def node_problems(
    client: Client, manifest: ModuleManifest, namespaces: Sequence[str]
) -> list[NodeProblem]:
    """Read every declared variable once; the ones that are missing or not good."""

    async def read(node_ids: Sequence[str]) -> list[str | None]:
        return await read_statuses(client, node_ids)

    return await shared_node_problems(manifest, namespaces, read)


async def read_statuses(client: Client, node_ids: Sequence[str]) -> list[str | None]:
    """One Read request: per node, its status name when it does not read good."""
    ids = [ua.NodeId.from_string(node_id) for node_id in node_ids]
    values = await client.uaclient.read_attributes(ids, AttributeIds.Value)
    return [
        None if not v.StatusCode or v.StatusCode.is_good() else v.StatusCode.name for v in values
    ]
