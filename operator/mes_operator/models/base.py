"""Base class for the custom resources' typed models.

Kubernetes spells fields in camelCase; Python in snake_case. One base class does the
translation so every model reads naturally on both sides, and rejects unknown fields so a
typo in a spec fails loudly in the operator just as it is pruned by the API server.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ResourceModel(BaseModel):
    """A part of a custom resource: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=False,
    )
