"""The ClusterKopfPeering object the operator replicas meet in.

kopf only patches the peering object; if it does not exist, every replica silently
believes it is alone and all of them act. So the operator makes sure it exists before
kopf starts peering. (A Helm chart cannot ship it: the CRD is in the same release.)
"""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource

ClusterKopfPeering: Any = create_global_resource(
    "kopf.dev", "v1", "ClusterKopfPeering", "clusterkopfpeerings"
)


async def ensure_peering_object(client: AsyncClient, name: str) -> bool:
    """Create the peering object ``name`` if missing; True when it was created."""
    try:
        await client.get(ClusterKopfPeering, name)
    except ApiError as exc:
        if exc.status.code != 404:
            raise
    else:
        return False
    obj = ClusterKopfPeering(
        apiVersion="kopf.dev/v1",
        kind="ClusterKopfPeering",
        metadata={"name": name, "labels": {"app.kubernetes.io/part-of": "holon"}},
    )
    try:
        await client.create(obj)
    except ApiError as exc:
        if exc.status.code == 409:  # the other replica was faster
            return False
        raise
    return True
