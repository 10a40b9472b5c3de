"""A tiny, safe expression language for SFC transition conditions.

Conditions are written by recipe authors and evaluated by the engine on every scan, so
they must never run code. The text is parsed with :mod:`ast` and every node is checked
against a strict whitelist: numbers, ``True``/``False``, dotted names (``BR.Temperature``,
``formula.CultTemp``), comparisons (chains allowed), ``and``/``or``/``not`` and unary minus.
Calls, subscripts, arithmetic, lambdas and anything else are refused at parse time, so a
recipe with a bad condition fails validation long before it runs.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mes_runtime.domain.errors import ConditionError

__all__ = ["Condition", "parse_condition"]

_COMPARATORS: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_MAX_LENGTH = 1000

_Values = Mapping[str, float]
_Number = Callable[[_Values], float]
_Predicate = Callable[[_Values], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: the names it reads and a safe evaluator."""

    text: str
    names: frozenset[str]
    _predicate: _Predicate = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, float]) -> bool:
        """Evaluate against current values; a missing name raises :class:`ConditionError`."""
        missing = sorted(self.names - values.keys())
        if missing:
            raise ConditionError(f"condition {self.text!r} needs values for: {', '.join(missing)}")
        return self._predicate(values)


def parse_condition(text: str) -> Condition:
    """Parse ``text`` into a :class:`Condition`, refusing anything outside the language."""
    if len(text) > _MAX_LENGTH:
        raise ConditionError(f"condition is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"condition {text!r} is not valid syntax: {exc.msg}") from exc
    names: set[str] = set()
    predicate = _Compiler(text, names).predicate(tree.body)
    return Condition(text=text, names=frozenset(names), _predicate=predicate)


class _Compiler:
    """Turns a whitelisted AST into closures; refuses every other node."""

    def __init__(self, text: str, names: set[str]) -> None:
        self._text = text
        self._names = names

    def _refuse(self, node: ast.AST, what: str) -> ConditionError:
        return ConditionError(
            f"condition {self._text!r}: {what} is not allowed "
            f"(found {type(node).__name__} at column {getattr(node, 'col_offset', 0) + 1})"
        )

    def predicate(self, node: ast.expr) -> _Predicate:
        if isinstance(node, ast.BoolOp):
            parts = [self.predicate(value) for value in node.values]
            if isinstance(node.op, ast.And):
                return lambda values: all(part(values) for part in parts)
            return lambda values: any(part(values) for part in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.predicate(node.operand)
            return lambda values: not inner(values)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            constant = node.value
            return lambda _values: constant
        raise self._refuse(node, "a non-boolean expression here (use a comparison)")

    def _compare(self, node: ast.Compare) -> _Predicate:
        operands = [self.number(node.left), *(self.number(c) for c in node.comparators)]
        checks: list[Callable[[float, float], bool]] = []
        for op in node.ops:
            check = _COMPARATORS.get(type(op))
            if check is None:
                raise self._refuse(op, f"the operator {type(op).__name__}")
            checks.append(check)

        def compare(values: _Values) -> bool:
            numbers = [operand(values) for operand in operands]
            return all(check(numbers[i], numbers[i + 1]) for i, check in enumerate(checks))

        return compare

    def number(self, node: ast.expr) -> _Number:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self._refuse(node, f"the constant {node.value!r}")
            constant = float(node.value)
            return lambda _values: constant
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self.number(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda values: -inner(values)
            return inner
        if isinstance(node, ast.Name | ast.Attribute):
            name = self._dotted(node)
            self._names.add(name)
            return lambda values: float(values[name])
        raise self._refuse(node, "this expression")

    def _dotted(self, node: ast.expr) -> str:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            raise self._refuse(node, "an attribute of something other than a name")
        parts.append(node.id)
        return ".".join(reversed(parts))
