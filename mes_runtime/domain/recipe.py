"""The ISA-88 master recipe: header, formula, equipment requirements and procedure.

A master recipe is data: it is loaded from YAML/JSON (``MasterRecipe.model_validate``),
versioned, approved by its digest, and never executed directly — a batch runs a
:class:`~mes_runtime.domain.control_recipe.ControlRecipe` copied from it.

The procedure follows the ISA-88 procedural hierarchy strictly: a procedure holds unit
procedures, a unit procedure (bound to one unit such as ``BR``) holds operations, and an
operation holds phases. Each non-phase element orders its children as a sequential
function chart (SFC): ``initial`` steps, and ``transitions`` from steps to steps with an
optional condition. A transition with ``to: []`` ends its parent element.

Models here check shape (types, required fields, ranges ordered); everything that needs
the whole recipe in view (unknown steps, unreachable steps, units, limits) is reported by
:func:`mes_runtime.domain.validation.validate_recipe`, which lists every problem at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    StringConstraints,
    model_validator,
)

from mes_runtime.domain.capabilities import Capability, ProcessValueSpec
from mes_runtime.domain.exceptions.trend import RunRule, SlopeLimit, TrendSpec
from mes_runtime.kernel.events import Severity

__all__ = [
    "Criticality",
    "Element",
    "EquipmentRequirement",
    "FormulaParameter",
    "Header",
    "MasterRecipe",
    "MonitorLimit",
    "MonitorTrend",
    "Operation",
    "ParameterBinding",
    "Phase",
    "Procedure",
    "RecipeStatus",
    "StepId",
    "Transition",
    "UnitProcedure",
]

#: Identifier of a step inside its parent; it becomes one segment of an element path.
StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class Criticality(StrEnum):
    """How much an excursion of a parameter matters (drives RbE severity)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class RecipeStatus(StrEnum):
    """Life-cycle status of a master recipe version."""

    DRAFT = "draft"
    APPROVED = "approved"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class _Range(_Frozen):
    """Shared low/high handling for formula parameters and monitor limits."""

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> _Range:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is greater than high {self.high}")
        return self

    def within(self, value: float) -> bool:
        """Whether ``value`` lies inside the (inclusive) range."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


class Header(_Frozen):
    """Identity and life-cycle of one master recipe version."""

    name: StepId
    version: int = Field(ge=1)
    product: str
    description: str = ""
    author: str
    status: RecipeStatus = RecipeStatus.DRAFT


class FormulaParameter(_Range):
    """A named process input (e.g. ``CultTemp`` = 36.5 degC, 35.5..37.5, critical)."""

    name: str
    value: float
    unit: str
    criticality: Criticality = Criticality.MAJOR
    description: str = ""


class EquipmentRequirement(_Frozen):
    """What the equipment bound to a unit (e.g. ``BR``) must offer."""

    unit: StepId
    capabilities: tuple[Capability, ...] = ()
    process_values: tuple[ProcessValueSpec, ...] = ()

    def capability(self, service: str, procedure: str) -> Capability | None:
        """The required capability ``service``/``procedure``, if listed."""
        return next(
            (c for c in self.capabilities if (c.service, c.procedure) == (service, procedure)),
            None,
        )


class ParameterBinding(_Frozen):
    """A phase parameter: bound to a formula parameter, or a literal value with unit."""

    formula: str | None = None
    value: float | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ParameterBinding:
        literal = self.value is not None or self.unit is not None
        if (self.formula is None) == (not literal):
            raise ValueError("bind either {formula: NAME} or {value: X, unit: U}, not both")
        if literal and (self.value is None or self.unit is None):
            raise ValueError("a literal parameter needs both value and unit")
        return self


class MonitorTrend(_Frozen):
    """Out-of-trend rules of a monitored value (:mod:`mes_runtime.domain.exceptions.trend`).

    Beside its limits, in the recipe: the reference (``center``, ``sigma``: the process's
    validated variability, or a golden batch's) and the rules belong to the process step
    as much as the limits do, and are approved, versioned and digested with them."""

    center: float
    sigma: PositiveFloat
    rules: frozenset[RunRule] = frozenset(RunRule)
    slope: SlopeLimit | None = None
    severity: Severity = Severity.MINOR

    def spec(self, parameter: str, unit: str) -> TrendSpec:
        """The detector's configuration for ``parameter`` (e.g. ``BR-101.pH``)."""
        return TrendSpec(
            parameter=parameter,
            unit=unit,
            center=self.center,
            sigma=self.sigma,
            rules=self.rules,
            slope=self.slope,
            severity=self.severity,
        )


class MonitorLimit(_Range):
    """A process value watched while a phase runs (e.g. BR Temperature 35.5..37.5), and
    optionally its out-of-trend rules."""

    name: str
    unit: str
    criticality: Criticality = Criticality.MAJOR
    # left out of the canonical form when absent: recipes without one keep their digest
    trend: MonitorTrend | None = Field(None, exclude_if=lambda value: value is None)


class Transition(_Frozen):
    """An SFC transition: fires when all ``from`` steps are final and the condition holds."""

    id: StepId
    from_: tuple[str, ...] = Field(alias="from")
    to: tuple[str, ...] = ()
    condition: str | None = None

    @property
    def ends(self) -> bool:
        """Whether firing this transition ends the parent element."""
        return not self.to


class Phase(_Frozen):
    """The smallest procedural element: one service procedure on the unit's equipment."""

    id: StepId
    description: str = ""
    service: str
    procedure: str
    parameters: dict[str, ParameterBinding] = Field(default_factory=dict)
    monitor: tuple[MonitorLimit, ...] = ()
    # How a continuous procedure (MTP IsSelfCompleting false: stirring, tempering, holding)
    # ends: the runtime sends Complete once it has executed this long, or once the condition
    # holds (whichever comes first); an operator may also give Complete. A self-completing
    # procedure ends by itself; these end it early.
    complete_after_seconds: float | None = Field(None, gt=0, le=366 * 24 * 3600)
    complete_when: str | None = Field(None, min_length=1, max_length=1000)
    # False: no upgrade may hand the batch over while this phase is active (say a transfer
    # or a sterilisation hold that must not see its supervisor change); the switch waits
    # for it (GET /api/v1/upgrade/safe-point names it). Omitted from the canonical form
    # when true, so recipes written before it keep their digest and their signatures.
    interruptible: bool = True


class Operation(_Frozen):
    """An ordered set of phases on one unit."""

    id: StepId
    description: str = ""
    steps: tuple[Phase, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


class UnitProcedure(_Frozen):
    """An ordered set of operations on one unit (named by the recipe, e.g. ``BR``)."""

    id: StepId
    description: str = ""
    unit: StepId
    steps: tuple[Operation, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


class Procedure(_Frozen):
    """The top of the procedural hierarchy: unit procedures and their ordering."""

    id: StepId = "procedure"
    description: str = ""
    steps: tuple[UnitProcedure, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()


Element = Procedure | UnitProcedure | Operation | Phase


class MasterRecipe(_Frozen):
    """One version of a master recipe, as authored and approved."""

    header: Header
    formula: tuple[FormulaParameter, ...] = ()
    equipment: tuple[EquipmentRequirement, ...] = ()
    procedure: Procedure

    def formula_parameter(self, name: str) -> FormulaParameter | None:
        """The formula parameter called ``name``, if any."""
        return next((p for p in self.formula if p.name == name), None)

    def requirement(self, unit: str) -> EquipmentRequirement | None:
        """The equipment requirement for ``unit``, if any."""
        return next((r for r in self.equipment if r.unit == unit), None)

    def elements(self) -> Iterator[tuple[str, Element]]:
        """Every procedural element with its path, parents before children."""
        root = self.procedure
        yield root.id, root
        for up in root.steps:
            up_path = f"{root.id}/{up.id}"
            yield up_path, up
            for op in up.steps:
                op_path = f"{up_path}/{op.id}"
                yield op_path, op
                for phase in op.steps:
                    yield f"{op_path}/{phase.id}", phase

    def phases(self) -> Iterator[tuple[str, str, Phase]]:
        """``(path, unit, phase)`` for every phase."""
        root = self.procedure
        for up in root.steps:
            for op in up.steps:
                for phase in op.steps:
                    yield f"{root.id}/{up.id}/{op.id}/{phase.id}", up.unit, phase

    def to_canonical_data(self, *, include_status: bool = True) -> dict[str, Any]:
        """JSON-compatible data with every default spelled out (aliases as authored), but
        for fields added later whose default keeps an older recipe's digest
        (``interruptible``)."""
        data = self.model_dump(mode="json", by_alias=True)
        if not include_status:
            del data["header"]["status"]
        for unit_procedure in data["procedure"]["steps"]:
            for operation in unit_procedure["steps"]:
                for phase in operation["steps"]:
                    if phase.get("interruptible") is True:
                        del phase["interruptible"]  # the default, as before the field existed
        return data

    def to_canonical_json(self, *, include_status: bool = True) -> str:
        """Deterministic JSON (sorted keys, no whitespace): the text that gets signed."""
        return json.dumps(
            self.to_canonical_data(include_status=include_status),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical JSON without the status.

        The status is left out so that approving a draft does not change the digest: the
        reviewer signs the digest of exactly the content that then runs.
        """
        canonical = self.to_canonical_json(include_status=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
