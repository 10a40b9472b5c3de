"""References from a Holon resource to other objects in its namespace."""

from __future__ import annotations

from pydantic import Field

from mes_operator.models.base import ResourceModel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An RFC 1123 label: what Kubernetes accepts as the name of most objects."""


class SecretRef(ResourceModel):
    """A Secret in the resource's own namespace."""

    name: str = Field(
        description="Name of the Secret in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
    )


class SecretKeyRef(ResourceModel):
    """One key of a Secret in the resource's own namespace."""

    name: str = Field(
        description="Name of the Secret in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
    )
    key: str = Field(
        default="url",
        description="Key inside the Secret whose value is used.",
        min_length=1,
        max_length=253,
    )


CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
"""What Kubernetes accepts as a key of a ConfigMap's data or binaryData."""


class ConfigMapKeyRef(ResourceModel):
    """One key of a ConfigMap in the resource's own namespace."""

    name: str = Field(
        description="Name of the ConfigMap in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
    )
    key: str = Field(
        description="Key inside the ConfigMap (under data or binaryData) whose value is used.",
        min_length=1,
        max_length=253,
        pattern=CONFIG_MAP_KEY,
    )
