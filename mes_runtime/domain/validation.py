"""Whole-recipe validation: every problem at once, each tied to the element it concerns.

Pydantic checks the *shape* of a recipe when it is loaded; this module checks what needs
the whole recipe in view: the SFC of every element (unknown, unreachable and dead-end
steps, loops without exit), formula references and limits, units of measure, the
equipment requirement of each unit and, when the plant's equipment is known (from MTP
manifests), whether any module can play each unit.

Validation never stops at the first problem: an author fixing a recipe wants the full
list, and the approval UI shows it next to the elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from mes_runtime.domain.capabilities import Capabilities, Capability
from mes_runtime.domain.conditions import parse_condition
from mes_runtime.domain.errors import ConditionError
from mes_runtime.domain.recipe import (
    EquipmentRequirement,
    MasterRecipe,
    Phase,
    Transition,
)

__all__ = ["IssueCode", "ValidationIssue", "validate_recipe"]


class IssueCode(StrEnum):
    """Kinds of problem :func:`validate_recipe` reports."""

    DUPLICATE_ID = "duplicate-id"
    NO_INITIAL_STEP = "no-initial-step"
    UNKNOWN_STEP = "unknown-step"
    EMPTY_TRANSITION = "empty-transition"
    UNREACHABLE_STEP = "unreachable-step"
    NO_END = "no-end"
    LOOP_WITHOUT_EXIT = "loop-without-exit"
    CONDITION_SYNTAX = "condition-syntax"
    UNKNOWN_NAME = "unknown-name"
    UNKNOWN_FORMULA_PARAMETER = "unknown-formula-parameter"
    UNKNOWN_PARAMETER = "unknown-parameter"
    UNIT_MISMATCH = "unit-mismatch"
    LITERAL_OUT_OF_LIMITS = "literal-out-of-limits"
    FORMULA_OUT_OF_LIMITS = "formula-out-of-limits"
    UNKNOWN_UNIT = "unknown-unit"
    MISSING_CAPABILITY = "missing-capability"
    NO_EQUIPMENT = "no-equipment"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem, at one element path (``procedure/BR-UP/cultivation/run-fedbatch``)."""

    path: str
    code: IssueCode
    message: str


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class _Graph(Protocol):
    @property
    def steps(self) -> Sequence[_HasId]: ...
    @property
    def initial(self) -> Sequence[str]: ...
    @property
    def transitions(self) -> Sequence[Transition]: ...


def validate_recipe(
    recipe: MasterRecipe, *, available: Mapping[str, Capabilities] | None = None
) -> list[ValidationIssue]:
    """Every problem of ``recipe``; an empty list means it is fit to approve.

    ``available`` maps equipment names to what they offer; when given, each unit must be
    playable by at least one of them.
    """
    checker = _Checker(recipe)
    checker.formula()
    checker.equipment(available)
    checker.procedure()
    return checker.issues


class _Checker:
    def __init__(self, recipe: MasterRecipe) -> None:
        self.recipe = recipe
        self.issues: list[ValidationIssue] = []

    def add(self, path: str, code: IssueCode, message: str) -> None:
        self.issues.append(ValidationIssue(path=path, code=code, message=message))

    # -- formula and equipment -------------------------------------------------------

    def formula(self) -> None:
        for name in _duplicates(p.name for p in self.recipe.formula):
            self.add(f"formula/{name}", IssueCode.DUPLICATE_ID, "formula parameter defined twice")
        for param in self.recipe.formula:
            if not param.within(param.value):
                self.add(
                    f"formula/{param.name}",
                    IssueCode.FORMULA_OUT_OF_LIMITS,
                    f"value {param.value} {param.unit} is outside its own limits "
                    f"{_range(param.low, param.high)} {param.unit}",
                )

    def equipment(self, available: Mapping[str, Capabilities] | None) -> None:
        for unit in _duplicates(r.unit for r in self.recipe.equipment):
            self.add(f"equipment/{unit}", IssueCode.DUPLICATE_ID, "unit required twice")
        if available is None:
            return
        for req in self.recipe.equipment:
            if any(
                offer.satisfies(req.capabilities, req.process_values)
                for offer in available.values()
            ):
                continue
            reasons = "; ".join(
                f"{name}: {', '.join(offer.shortfalls(req.capabilities, req.process_values))}"
                for name, offer in sorted(available.items())
            )
            self.add(
                f"equipment/{req.unit}",
                IssueCode.NO_EQUIPMENT,
                f"no available equipment satisfies unit {req.unit!r}"
                + (f" ({reasons})" if reasons else " (no equipment available)"),
            )

    # -- procedure -------------------------------------------------------------------

    def procedure(self) -> None:
        root = self.recipe.procedure
        self.graph(root.id, root)
        for up in root.steps:
            up_path = f"{root.id}/{up.id}"
            self.graph(up_path, up)
            requirement = self.recipe.requirement(up.unit)
            if requirement is None:
                self.add(
                    up_path,
                    IssueCode.UNKNOWN_UNIT,
                    f"unit {up.unit!r} has no equipment requirement",
                )
            for op in up.steps:
                op_path = f"{up_path}/{op.id}"
                self.graph(op_path, op)
                for phase in op.steps:
                    self.phase(f"{op_path}/{phase.id}", phase, up.unit, requirement)

    def graph(self, path: str, element: _Graph) -> None:
        step_ids = [step.id for step in element.steps]
        known = set(step_ids)
        for dup in _duplicates(step_ids):
            self.add(f"{path}/{dup}", IssueCode.DUPLICATE_ID, "step id used twice")
        for dup in _duplicates(t.id for t in element.transitions):
            self.add(_tpath(path, dup), IssueCode.DUPLICATE_ID, "transition id used twice")
        if not element.initial:
            self.add(path, IssueCode.NO_INITIAL_STEP, "no initial step")
        for step_id in element.initial:
            if step_id not in known:
                self.add(path, IssueCode.UNKNOWN_STEP, f"initial step {step_id!r} does not exist")
        sound = True
        for t in element.transitions:
            tpath = _tpath(path, t.id)
            if not t.from_:
                sound = False
                self.add(tpath, IssueCode.EMPTY_TRANSITION, "transition has no 'from' step")
            for ref in (*t.from_, *t.to):
                if ref not in known:
                    sound = False
                    self.add(tpath, IssueCode.UNKNOWN_STEP, f"step {ref!r} does not exist")
            if t.condition is not None:
                self.condition(tpath, t.condition)
        if sound:
            self.flow(path, step_ids, element)

    def flow(self, path: str, step_ids: list[str], element: _Graph) -> None:
        transitions = list(element.transitions)
        reachable = set(element.initial)
        changed = True
        while changed:
            changed = False
            for t in transitions:
                if set(t.from_) <= reachable and not set(t.to) <= reachable:
                    reachable |= set(t.to)
                    changed = True
        for step_id in step_ids:
            if step_id not in reachable:
                self.add(
                    f"{path}/{step_id}",
                    IssueCode.UNREACHABLE_STEP,
                    "step can never be activated from the initial steps",
                )
        if not any(t.ends for t in transitions):
            self.add(path, IssueCode.NO_END, "no transition ends this element (to: [])")
            return
        can_end: set[str] = set()
        changed = True
        while changed:
            changed = False
            for t in transitions:
                if (t.ends or set(t.to) & can_end) and not set(t.from_) <= can_end:
                    can_end |= set(t.from_)
                    changed = True
        leaving = {s for t in transitions for s in t.from_}
        for step_id in step_ids:
            if step_id in reachable and step_id not in can_end:
                what = (
                    "loop without exit: no end transition is reachable from this step"
                    if step_id in leaving
                    else "dead end: no transition leaves this step, so the element never ends"
                )
                self.add(f"{path}/{step_id}", IssueCode.LOOP_WITHOUT_EXIT, what)

    def condition(self, path: str, text: str) -> None:
        try:
            condition = parse_condition(text)
        except ConditionError as exc:
            self.add(path, IssueCode.CONDITION_SYNTAX, str(exc))
            return
        for name in sorted(condition.names):
            problem = self.name_problem(name)
            if problem:
                self.add(path, IssueCode.UNKNOWN_NAME, f"condition name {name!r}: {problem}")

    def name_problem(self, name: str) -> str | None:
        parts = name.split(".")
        if len(parts) != 2:
            return "use 'formula.<parameter>' or '<unit>.<process value>'"
        scope, leaf = parts
        if scope == "formula":
            if self.recipe.formula_parameter(leaf) is None:
                return "no such formula parameter"
            return None
        requirement = self.recipe.requirement(scope)
        if requirement is None:
            return f"no unit {scope!r} in the equipment requirements"
        if not any(pv.name == leaf for pv in requirement.process_values):
            return f"unit {scope!r} declares no process value {leaf!r}"
        return None

    def phase(
        self, path: str, phase: Phase, unit: str, requirement: EquipmentRequirement | None
    ) -> None:
        capability = None
        if requirement is not None:
            capability = requirement.capability(phase.service, phase.procedure)
            if capability is None:
                self.add(
                    path,
                    IssueCode.MISSING_CAPABILITY,
                    f"{phase.service}/{phase.procedure} is not in the equipment requirement "
                    f"of unit {unit!r}",
                )
        for name, binding in phase.parameters.items():
            self.parameter(
                f"{path}/{name}", name, binding.formula, binding.value, binding.unit, capability
            )
        if phase.complete_when is not None:
            self.condition(f"{path}/complete_when", phase.complete_when)
        if requirement is None:
            return  # the unit itself is already reported; nothing to check against
        for limit in phase.monitor:
            mpath = f"{path}/monitor/{limit.name}"
            pv = next((p for p in requirement.process_values if p.name == limit.name), None)
            if pv is None:
                self.add(
                    mpath,
                    IssueCode.UNKNOWN_NAME,
                    f"unit {unit!r} declares no process value {limit.name!r}",
                )
            elif pv.unit != limit.unit:
                self.add(
                    mpath,
                    IssueCode.UNIT_MISMATCH,
                    f"limit is in {limit.unit!r} but {limit.name} is reported in {pv.unit!r}",
                )

    def parameter(
        self,
        path: str,
        name: str,
        formula: str | None,
        value: float | None,
        unit: str | None,
        capability: Capability | None,
    ) -> None:
        code = IssueCode.LITERAL_OUT_OF_LIMITS
        if formula is not None:
            source = self.recipe.formula_parameter(formula)
            if source is None:
                self.add(
                    path,
                    IssueCode.UNKNOWN_FORMULA_PARAMETER,
                    f"bound to unknown formula parameter {formula!r}",
                )
                return
            value, unit, code = source.value, source.unit, IssueCode.FORMULA_OUT_OF_LIMITS
        if capability is None or value is None or unit is None:
            return
        spec = capability.parameter(name)
        if spec is None:
            self.add(
                path,
                IssueCode.UNKNOWN_PARAMETER,
                f"{capability.service}/{capability.procedure} has no parameter {name!r}",
            )
            return
        if spec.unit != unit:
            self.add(
                path,
                IssueCode.UNIT_MISMATCH,
                f"value is in {unit!r} but {name} expects {spec.unit!r}",
            )
            return
        if not spec.within(value):
            self.add(
                path,
                code,
                f"{name} = {value} {unit} is outside the equipment limits "
                f"{_range(spec.low, spec.high)} {unit}",
            )


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


def _range(low: float | None, high: float | None) -> str:
    return f"{'-inf' if low is None else low}..{'inf' if high is None else high}"


def _tpath(path: str, transition_id: str) -> str:
    return f"{path}/transition:{transition_id}"
