"""What this runtime serves: the module kind's capabilities and the feature flags switched on.

The MESModule's ``spec.module`` (``HOLON_MODULE``) names a kind; each kind has core
capabilities, always served, and optional ones, served when their ``spec.features`` flag
(``HOLON_FEATURE_*``) is on. Everything is off unless the kind or a flag turns it on (the
manifesto's modular install). A runtime started outside the operator (``mes-runtime
serve``, no ``HOLON_MODULE``) serves what a ``batch-execution`` module serves.

A combination the runtime cannot honour is refused at start, naming the setting, rather
than silently ignored: a flag the kind does not serve, a kind or a flag that is not
implemented yet. The operator refuses the same specs at admission (the CRD's CEL rules),
and ``tests/test_settings_contract.py`` holds the two tables to each other.

Electronic signatures: a GMP approval is never given without one. The flag switches the
*signing* capability (recipe approval by a Part 11 signature) on; with it off the module
cannot approve at all (the route is not served), it never approves unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mes_runtime.settings import Settings

__all__ = [
    "KINDS",
    "NOT_SUPPORTED_FLAGS",
    "STANDALONE_KIND",
    "Capability",
    "FeatureError",
    "KindCapabilities",
    "served",
]


class FeatureError(ValueError):
    """The settings ask for a capability this runtime cannot serve (refused at start)."""


class Capability(StrEnum):
    """A part of the runtime that is served or not, as a whole."""

    RECIPES = "recipes"
    EQUIPMENT = "equipment"
    BATCHES = "batches"
    JOURNAL = "journal"
    UI = "ui"
    REVIEW_BY_EXCEPTION = "review-by-exception"
    ELECTRONIC_SIGNATURES = "electronic-signatures"
    METRICS = "metrics"


#: The setting (``spec.features`` flag) that switches each optional capability on.
FLAGS: dict[Capability, str] = {
    Capability.UI: "feature_ui",
    Capability.REVIEW_BY_EXCEPTION: "feature_review_by_exception",
    Capability.ELECTRONIC_SIGNATURES: "feature_electronic_signatures",
    Capability.METRICS: "feature_metrics",
}

#: Flags the CRD has but the runtime does not implement yet, with what to do instead.
NOT_SUPPORTED_FLAGS: dict[str, str] = {
    "feature_equipment_simulator": (
        "the runtime does not run the equipment simulator; run `mes-runtime simulate` "
        "beside it and register the manifests it writes"
    ),
}


@dataclass(frozen=True, kw_only=True)
class KindCapabilities:
    """What one module kind serves: ``core`` always, ``optional`` when its flag is on."""

    core: frozenset[Capability]
    optional: frozenset[Capability]


_EVERY_MODULE = frozenset({Capability.METRICS})

#: The module kinds this runtime serves (``ModuleKind`` of the operator, but for those
#: not implemented yet), and what each serves.
KINDS: dict[str, KindCapabilities] = {
    # recipes, equipment and batches on the shop floor: the whole runtime
    "batch-execution": KindCapabilities(
        core=frozenset(
            {Capability.RECIPES, Capability.EQUIPMENT, Capability.BATCHES, Capability.JOURNAL}
        ),
        optional=_EVERY_MODULE
        | {Capability.UI, Capability.REVIEW_BY_EXCEPTION, Capability.ELECTRONIC_SIGNATURES},
    ),
    # the electronic batch record of a shared database: read and verify it, no execution
    "ebr": KindCapabilities(
        core=frozenset({Capability.JOURNAL}),
        optional=_EVERY_MODULE | {Capability.REVIEW_BY_EXCEPTION},
    ),
    # QA's review of a shared database's exceptions: the record and its exceptions
    "review-by-exception": KindCapabilities(
        core=frozenset({Capability.JOURNAL, Capability.REVIEW_BY_EXCEPTION}),
        optional=_EVERY_MODULE,
    ),
}

#: The kind of a runtime started without ``HOLON_MODULE`` (outside the operator).
STANDALONE_KIND = "batch-execution"


def _env(setting: str) -> str:
    return "HOLON_" + setting.upper()


def served(settings: Settings) -> frozenset[Capability]:
    """The capabilities a runtime with ``settings`` serves; :class:`FeatureError` naming
    the setting when the module kind or a flag cannot be honoured."""
    kind = settings.module or STANDALONE_KIND
    capabilities = KINDS.get(kind)
    if capabilities is None:
        raise FeatureError(
            f"HOLON_MODULE={kind}: not supported yet (this runtime serves "
            f"{', '.join(sorted(KINDS))})"
        )
    for setting, instead in NOT_SUPPORTED_FLAGS.items():
        if getattr(settings, setting):
            raise FeatureError(f"{_env(setting)}: not supported yet ({instead})")
    switched_on = {capability for capability, flag in FLAGS.items() if getattr(settings, flag)}
    foreign = sorted(switched_on - capabilities.core - capabilities.optional)
    if foreign:
        names = ", ".join(_env(FLAGS[capability]) for capability in foreign)
        raise FeatureError(f"{names}: a module of kind {kind} does not serve it; switch it off")
    return capabilities.core | (switched_on & capabilities.optional)
