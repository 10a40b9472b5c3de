"""What equipment offers and what a recipe needs, in the same vocabulary.

A recipe's equipment requirement for a unit (e.g. ``BR``) and an equipment module's
offer (e.g. ``BR-101``, learned from its MTP manifest) are both lists of
:class:`Capability` (service, procedure, parameters with units and limits) plus process
values. Using one shape for both sides makes "does this module satisfy that unit?" a plain
comparison (:meth:`Capabilities.satisfies`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Capabilities", "Capability", "ParameterSpec", "ProcessValueSpec"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParameterSpec(_Frozen):
    """A service parameter: its engineering unit and, optionally, its allowed range."""

    name: str
    unit: str
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> ParameterSpec:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"parameter {self.name!r}: low {self.low} > high {self.high}")
        return self

    def within(self, value: float) -> bool:
        """Whether ``value`` lies inside the (inclusive) range."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


class ProcessValueSpec(_Frozen):
    """A process value a unit reports (e.g. ``Temperature`` in ``degC``)."""

    name: str
    unit: str


class Capability(_Frozen):
    """One service procedure (e.g. ``Cultivate``/``FedBatch``) and its parameters.

    ``self_completing`` is False for a continuous procedure (stirring, tempering,
    holding): it stays in Execute until it is sent ``Complete`` (MTP ``IsSelfCompleting``).
    """

    service: str
    procedure: str
    parameters: tuple[ParameterSpec, ...] = ()
    self_completing: bool = True

    def parameter(self, name: str) -> ParameterSpec | None:
        """The parameter called ``name``, if any."""
        return next((p for p in self.parameters if p.name == name), None)


class Capabilities(_Frozen):
    """Everything one equipment module offers."""

    procedures: tuple[Capability, ...] = ()
    process_values: tuple[ProcessValueSpec, ...] = ()

    def find(self, service: str, procedure: str) -> Capability | None:
        """The offered procedure ``service``/``procedure``, if any."""
        return next(
            (c for c in self.procedures if (c.service, c.procedure) == (service, procedure)),
            None,
        )

    def process_value(self, name: str) -> ProcessValueSpec | None:
        """The offered process value called ``name``, if any."""
        return next((pv for pv in self.process_values if pv.name == name), None)

    def shortfalls(
        self,
        needed: tuple[Capability, ...],
        process_values: tuple[ProcessValueSpec, ...] = (),
    ) -> list[str]:
        """Human-readable reasons why this offer does not cover ``needed`` (empty: it does)."""
        reasons: list[str] = []
        for need in needed:
            offer = self.find(need.service, need.procedure)
            if offer is None:
                reasons.append(f"no procedure {need.service}/{need.procedure}")
                continue
            for param in need.parameters:
                offered = offer.parameter(param.name)
                if offered is None:
                    reasons.append(
                        f"{need.service}/{need.procedure} has no parameter {param.name!r}"
                    )
                elif offered.unit != param.unit:
                    reasons.append(
                        f"{need.service}/{need.procedure} parameter {param.name!r} is in "
                        f"{offered.unit!r}, not {param.unit!r}"
                    )
        for pv in process_values:
            offered_pv = self.process_value(pv.name)
            if offered_pv is None:
                reasons.append(f"no process value {pv.name!r}")
            elif offered_pv.unit != pv.unit:
                reasons.append(
                    f"process value {pv.name!r} is in {offered_pv.unit!r}, not {pv.unit!r}"
                )
        return reasons

    def satisfies(
        self,
        needed: tuple[Capability, ...],
        process_values: tuple[ProcessValueSpec, ...] = (),
    ) -> bool:
        """Whether this offer covers every needed procedure, parameter unit and value."""
        return not self.shortfalls(needed, process_values)
