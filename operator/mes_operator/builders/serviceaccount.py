"""The runtime's own ServiceAccount: an identity with no API permissions and no token.

The runtime never talks to the Kubernetes API, so it gets no token mounted.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext, metadata


def build_service_account(ctx: ModuleContext) -> dict[str, Any]:
    """A dedicated ServiceAccount per module, without an automounted token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(ctx, ctx.name),
        "automountServiceAccountToken": False,
    }
