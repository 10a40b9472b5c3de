"""The control recipe: the immutable copy of a master recipe that one batch runs.

ISA-88 separates the master recipe (what is approved) from the control recipe (what one
batch executes). :meth:`ControlRecipe.from_master` validates the master, applies the
batch's formula overrides (inside the formula's own limits), binds each unit to a piece
of equipment, and resolves every phase parameter to a number with its unit. The result
is frozen and shares nothing mutable with the master, so editing the master or approving
a new version never changes a running batch.

Every element carries its stable path (``procedure/BR-UP/cultivation/run-fedbatch``),
which is the key used by the engine, the journal and the durable batch state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from mes_runtime.domain.errors import RecipeError
from mes_runtime.domain.recipe import (
    Criticality,
    FormulaParameter,
    MasterRecipe,
    MonitorLimit,
    Phase,
    Transition,
)
from mes_runtime.domain.validation import validate_recipe

__all__ = [
    "ControlElement",
    "ControlOperation",
    "ControlPhase",
    "ControlProcedure",
    "ControlRecipe",
    "ControlUnitProcedure",
    "FormulaOverride",
    "ResolvedParameter",
    "UnitBinding",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ResolvedParameter(_Frozen):
    """A phase parameter with its final value; ``source`` says where it came from."""

    name: str
    value: float
    unit: str
    source: str
    low: float | None = None
    high: float | None = None
    criticality: Criticality | None = None


class ControlPhase(_Frozen):
    """A phase ready to run: service procedure on bound equipment with numeric parameters."""

    id: str
    path: str
    unit: str
    equipment: str
    service: str
    procedure: str
    parameters: tuple[ResolvedParameter, ...] = ()
    monitor: tuple[MonitorLimit, ...] = ()
    complete_after_seconds: float | None = None
    complete_when: str | None = None
    interruptible: bool = True

    def parameter_values(self) -> dict[str, float]:
        """Parameter name -> value, as written to the MTP service."""
        return {p.name: p.value for p in self.parameters}


class ControlOperation(_Frozen):
    """An operation of the control recipe (phases and their SFC)."""

    id: str
    path: str
    unit: str
    steps: tuple[ControlPhase, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


class ControlUnitProcedure(_Frozen):
    """A unit procedure bound to one piece of equipment."""

    id: str
    path: str
    unit: str
    equipment: str
    steps: tuple[ControlOperation, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


class ControlProcedure(_Frozen):
    """The root of the control recipe's procedure."""

    id: str
    path: str
    steps: tuple[ControlUnitProcedure, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


ControlElement = ControlProcedure | ControlUnitProcedure | ControlOperation | ControlPhase


class UnitBinding(_Frozen):
    """Which equipment plays a recipe unit in this batch (``BR`` -> ``BR-101``)."""

    unit: str
    equipment: str


class FormulaOverride(_Frozen):
    """A batch-specific change of a formula value, kept for the batch record."""

    name: str
    master_value: float
    value: float


class ControlRecipe(_Frozen):
    """An immutable, batch-specific copy of one master recipe version."""

    batch_id: str
    recipe_name: str
    recipe_version: int
    master_digest: str
    product: str
    formula: tuple[FormulaParameter, ...]
    overrides: tuple[FormulaOverride, ...] = ()
    bindings: tuple[UnitBinding, ...]
    procedure: ControlProcedure

    @classmethod
    def from_master(
        cls,
        master: MasterRecipe,
        *,
        batch_id: str,
        bindings: Mapping[str, str],
        overrides: Mapping[str, float] | None = None,
    ) -> ControlRecipe:
        """Copy ``master`` for batch ``batch_id``; raises :class:`RecipeError` if it cannot.

        ``bindings`` maps every unit used by the procedure to an equipment name;
        ``overrides`` maps formula parameter names to batch values inside their limits.
        """
        issues = validate_recipe(master)
        if issues:
            listed = "; ".join(f"{i.path}: {i.message}" for i in issues)
            raise RecipeError(f"master recipe {master.header.name!r} is not valid: {listed}")
        formula, applied = _apply_overrides(master, overrides or {})
        units = sorted({up.unit for up in master.procedure.steps})
        unbound = [unit for unit in units if unit not in bindings]
        if unbound:
            raise RecipeError(f"units without equipment binding: {', '.join(unbound)}")
        by_name = {p.name: p for p in formula}
        root = master.procedure
        procedure = ControlProcedure(
            id=root.id,
            path=root.id,
            initial=root.initial,
            transitions=root.transitions,
            steps=tuple(
                ControlUnitProcedure(
                    id=up.id,
                    path=f"{root.id}/{up.id}",
                    unit=up.unit,
                    equipment=bindings[up.unit],
                    initial=up.initial,
                    transitions=up.transitions,
                    steps=tuple(
                        ControlOperation(
                            id=op.id,
                            path=f"{root.id}/{up.id}/{op.id}",
                            unit=up.unit,
                            initial=op.initial,
                            transitions=op.transitions,
                            steps=tuple(
                                _resolve_phase(
                                    phase,
                                    path=f"{root.id}/{up.id}/{op.id}/{phase.id}",
                                    unit=up.unit,
                                    equipment=bindings[up.unit],
                                    formula=by_name,
                                )
                                for phase in op.steps
                            ),
                        )
                        for op in up.steps
                    ),
                )
                for up in root.steps
            ),
        )
        return cls(
            batch_id=batch_id,
            recipe_name=master.header.name,
            recipe_version=master.header.version,
            master_digest=master.digest(),
            product=master.header.product,
            formula=formula,
            overrides=applied,
            bindings=tuple(UnitBinding(unit=u, equipment=bindings[u]) for u in units),
            procedure=procedure,
        )

    def elements(self) -> Iterator[ControlElement]:
        """Every element, parents before children."""
        yield self.procedure
        for up in self.procedure.steps:
            yield up
            for op in up.steps:
                yield op
                yield from op.steps

    def element(self, path: str) -> ControlElement:
        """The element at ``path``; raises :class:`RecipeError` if there is none."""
        for element in self.elements():
            if element.path == path:
                return element
        raise RecipeError(f"control recipe of batch {self.batch_id!r} has no element {path!r}")

    def phases(self) -> Iterator[ControlPhase]:
        """Every phase, in declaration order."""
        for up in self.procedure.steps:
            for op in up.steps:
                yield from op.steps

    def equipment_for(self, unit: str) -> str:
        """The equipment bound to ``unit``."""
        for binding in self.bindings:
            if binding.unit == unit:
                return binding.equipment
        raise RecipeError(f"unit {unit!r} is not bound in batch {self.batch_id!r}")

    def formula_values(self) -> dict[str, float]:
        """``formula.<name>`` -> value, ready to merge into condition values."""
        return {f"formula.{p.name}": p.value for p in self.formula}

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data, for storing with the batch."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlRecipe:
        """Inverse of :meth:`to_dict`."""
        return cls.model_validate(dict(data))


def _apply_overrides(
    master: MasterRecipe, overrides: Mapping[str, float]
) -> tuple[tuple[FormulaParameter, ...], tuple[FormulaOverride, ...]]:
    known = {p.name: p for p in master.formula}
    unknown = sorted(set(overrides) - known.keys())
    if unknown:
        raise RecipeError(f"overrides name unknown formula parameters: {', '.join(unknown)}")
    formula: list[FormulaParameter] = []
    applied: list[FormulaOverride] = []
    for param in master.formula:
        if param.name not in overrides:
            formula.append(param)
            continue
        value = float(overrides[param.name])
        if not param.within(value):
            raise RecipeError(
                f"override {param.name}={value} {param.unit} is outside "
                f"{param.low}..{param.high} {param.unit}"
            )
        formula.append(param.model_copy(update={"value": value}))
        applied.append(FormulaOverride(name=param.name, master_value=param.value, value=value))
    return tuple(formula), tuple(applied)


def _resolve_phase(
    phase: Phase,
    *,
    path: str,
    unit: str,
    equipment: str,
    formula: Mapping[str, FormulaParameter],
) -> ControlPhase:
    parameters: list[ResolvedParameter] = []
    for name, binding in phase.parameters.items():
        if binding.formula is not None:
            source = formula[binding.formula]
            parameters.append(
                ResolvedParameter(
                    name=name,
                    value=source.value,
                    unit=source.unit,
                    source=f"formula:{source.name}",
                    low=source.low,
                    high=source.high,
                    criticality=source.criticality,
                )
            )
        else:
            if binding.value is None or binding.unit is None:  # excluded by the model
                raise RecipeError(f"{path}: parameter {name!r} has no value or unit")
            parameters.append(
                ResolvedParameter(
                    name=name, value=binding.value, unit=binding.unit, source="literal"
                )
            )
    return ControlPhase(
        id=phase.id,
        path=path,
        unit=unit,
        equipment=equipment,
        service=phase.service,
        procedure=phase.procedure,
        parameters=tuple(parameters),
        monitor=phase.monitor,
        complete_after_seconds=phase.complete_after_seconds,
        complete_when=phase.complete_when,
        interruptible=phase.interruptible,
    )
