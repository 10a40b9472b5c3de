"""The recipe template library: master recipes shipped with Holon as package data.

BioPhorum asks for a library of biomanufacturing recipe templates; these are ordinary
master recipes (YAML files next to this module) that validate against the simulated
equipment, so a new plant can run a batch minutes after install and copy a template as
the start of its own recipe. They load as drafts: a site approves its own copy.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

from mes_runtime.domain.recipe import MasterRecipe

__all__ = ["TemplateNotFound", "load_template", "load_templates", "template_names"]

_SUFFIX = ".yaml"


class TemplateNotFound(LookupError):
    """No template with that name is shipped."""


def template_names() -> list[str]:
    """Names of the shipped templates, sorted."""
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in files(__name__).iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def load_template(name: str) -> MasterRecipe:
    """The template called ``name`` (its header name equals its file name)."""
    if name not in template_names():
        raise TemplateNotFound(
            f"no recipe template {name!r}; available: {', '.join(template_names())}"
        )
    data: Any = yaml.safe_load(files(__name__).joinpath(name + _SUFFIX).read_text("utf-8"))
    return MasterRecipe.model_validate(data)


def load_templates() -> list[MasterRecipe]:
    """Every shipped template, sorted by name."""
    return [load_template(name) for name in template_names()]
