"""Review by exception, the pure part: what an exception is and how it closes, the
auto-closure rules that close some, and the out-of-trend rules that raise some.

Import from this package, not from its modules.
"""

from mes_runtime.domain.exceptions.closure import (
    ClosureCriteria,
    ClosureRule,
    Decision,
    ExceptionFacts,
    RuleLifecycleError,
    RuleStatus,
    RuleVersion,
    decide,
    effective_rules,
    first_decisions,
    limits_from_message,
    next_status,
)
from mes_runtime.domain.exceptions.model import (
    AutoClosure,
    Category,
    ExceptionNotOpen,
    ExceptionStatus,
    PersonClosure,
    ReviewException,
)
from mes_runtime.domain.exceptions.trend import (
    RULE_WINDOWS,
    SLOPE_RULE,
    RunRule,
    SlopeLimit,
    TrendDetector,
    TrendFinding,
    TrendPoint,
    TrendSpec,
    least_squares_slope,
    scan,
)

__all__ = [
    "RULE_WINDOWS",
    "SLOPE_RULE",
    "AutoClosure",
    "Category",
    "ClosureCriteria",
    "ClosureRule",
    "Decision",
    "ExceptionFacts",
    "ExceptionNotOpen",
    "ExceptionStatus",
    "PersonClosure",
    "ReviewException",
    "RuleLifecycleError",
    "RuleStatus",
    "RuleVersion",
    "RunRule",
    "SlopeLimit",
    "TrendDetector",
    "TrendFinding",
    "TrendPoint",
    "TrendSpec",
    "decide",
    "effective_rules",
    "first_decisions",
    "least_squares_slope",
    "limits_from_message",
    "next_status",
    "scan",
]
