"""What a MESModule may ask for today: spec values without behaviour are refused.

The CRD promises more than Holon does yet. Rather than accept a value and silently ignore
it, each such value is refused at admission (a CEL rule of the CRD, so ``kubectl apply``
fails with the field named and "not supported yet") and again by the typed model (an
object admitted by an older CRD is reported InvalidSpec by the operator), until the issue
that implements it lands and removes its entry here. Both come from one table, so the
API server and the operator say the same thing.

The module kind decides which optional features a module serves: the runtime's
``mes_runtime.api.features.KINDS`` holds the same table (``tests/test_settings_contract.py``
keeps them equal, since the operator and the runtime never import each other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KIND_FEATURES", "NOT_YET", "SUPPORTED_KINDS", "Refusal", "cel_rules", "refusals"]

Spec = Mapping[str, Any]
"""A MESModule spec as the API server sees it: camelCase, defaults applied."""


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """One spec value refused: ``allowed`` (Python) and ``rule`` (CEL over the spec) hold
    when the spec is acceptable; ``message`` names the field."""

    field_path: str
    rule: str
    allowed: Callable[[Spec], bool]
    message: str
    reason: str = "FieldValueForbidden"

    def cel(self) -> dict[str, str]:
        """The rule as a CRD ``x-kubernetes-validations`` entry."""
        return {
            "rule": self.rule,
            "message": self.message,
            "fieldPath": self.field_path,
            "reason": self.reason,
        }


def _not_yet(field: str, why: str) -> str:
    return f"spec.{field}: not supported yet ({why})"


def _upgrade_strategy_allowed(strategy: Spec) -> bool:
    if strategy["type"] != "BlueGreen":
        return False
    if strategy.get("orchestrated"):
        return True
    return strategy["observeSeconds"] == 300 and bool(strategy["autoRollback"])


#: Spec values the operator and runtime do not implement yet (the defaults are accepted).
NOT_YET: tuple[Refusal, ...] = (
    Refusal(
        field_path=".module",
        rule="self.module != 'equipment-logbook'",
        allowed=lambda spec: spec["module"] != "equipment-logbook",
        message=_not_yet("module", "no runtime serves an equipment-logbook module"),
        reason="FieldValueInvalid",
    ),
    Refusal(
        field_path=".features.equipmentSimulator",
        rule="!self.features.equipmentSimulator",
        allowed=lambda spec: not spec["features"]["equipmentSimulator"],
        message=_not_yet(
            "features.equipmentSimulator",
            "run `mes-runtime simulate` beside the runtime and register its manifests",
        ),
    ),
    Refusal(
        field_path=".equipment",
        rule="size(self.equipment) == 0",
        allowed=lambda spec: not spec["equipment"],
        message=_not_yet(
            "equipment",
            "the runtime drives the equipment whose MTP manifests are registered with it; "
            "Equipment resources are checked on their own",
        ),
    ),
    Refusal(
        field_path=".upgradeStrategy",
        rule="self.upgradeStrategy.type == 'BlueGreen' && (self.upgradeStrategy.orchestrated"
        " || (self.upgradeStrategy.observeSeconds == 300 && self.upgradeStrategy.autoRollback))",
        allowed=lambda spec: _upgrade_strategy_allowed(spec["upgradeStrategy"]),
        message=_not_yet(
            "upgradeStrategy",
            "a version change rolls the Deployment unless orchestrated is true, which alone "
            "uses observeSeconds and autoRollback; type BlueGreen only",
        ),
    ),
)

#: The optional ``spec.features`` each supported module kind serves (a kind's own core
#: capability needs no flag; metrics everywhere). equipmentSimulator: none yet.
KIND_FEATURES: dict[str, frozenset[str]] = {
    "batch-execution": frozenset({"ui", "reviewByException", "electronicSignatures", "metrics"}),
    "ebr": frozenset({"reviewByException", "metrics"}),
    "review-by-exception": frozenset({"reviewByException", "metrics"}),
}
SUPPORTED_KINDS = frozenset(KIND_FEATURES)


def _off_for(kind: str, feature: str) -> Callable[[Spec], bool]:
    def allowed(spec: Spec) -> bool:
        return spec["module"] != kind or not spec["features"][feature]

    return allowed


def _kind_refusals(features: frozenset[str]) -> tuple[Refusal, ...]:
    """A feature flag switched on for a kind that does not serve it."""
    return tuple(
        Refusal(
            field_path=f".features.{feature}",
            rule=f"self.module != '{kind}' || !self.features.{feature}",
            allowed=_off_for(kind, feature),
            message=f"spec.features.{feature}: a module of kind {kind} does not serve it",
        )
        for kind, served in sorted(KIND_FEATURES.items())
        for feature in sorted(features - served - {"equipmentSimulator"})
    )


def cel_rules(features: frozenset[str]) -> list[dict[str, str]]:
    """Every refusal as a CEL rule, for the MESModule spec's schema."""
    return [refusal.cel() for refusal in (*NOT_YET, *_kind_refusals(features))]


def refusals(spec: Spec, features: frozenset[str]) -> list[str]:
    """The message of every refusal ``spec`` (camelCase, defaults applied) runs into."""
    return [
        refusal.message
        for refusal in (*NOT_YET, *_kind_refusals(features))
        if not refusal.allowed(spec)
    ]
