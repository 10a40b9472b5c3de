"""Review by exception, the pure part: out-of-trend rules (and, next, exception closure).

Import from this package, not from its modules.
"""

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
    "RunRule",
    "SlopeLimit",
    "TrendDetector",
    "TrendFinding",
    "TrendPoint",
    "TrendSpec",
    "least_squares_slope",
    "scan",
]
