"""Review by exception, the pure part: what an exception is and how it closes, and the
out-of-trend rules that raise some of them.

Import from this package, not from its modules.
"""

from mes_runtime.domain.exceptions.model import (
    AutoClosure,
    Category,
    ExceptionNotOpen,
    ExceptionStatus,
    PersonClosure,
    ReviewException,
    infer_category,
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
    "ExceptionNotOpen",
    "ExceptionStatus",
    "PersonClosure",
    "ReviewException",
    "RunRule",
    "SlopeLimit",
    "TrendDetector",
    "TrendFinding",
    "TrendPoint",
    "TrendSpec",
    "infer_category",
    "least_squares_slope",
    "scan",
]
