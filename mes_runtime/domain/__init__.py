"""The pure domain core: ISA-88 states, recipes, conditions, validation and sequencing.

Nothing here does I/O; the engine, API and storage call into it. Import from this
package, not from its modules.
"""

from mes_runtime.domain.capabilities import (
    Capabilities,
    Capability,
    ParameterSpec,
    ProcessValueSpec,
)
from mes_runtime.domain.conditions import Condition, parse_condition
from mes_runtime.domain.control_recipe import (
    ControlElement,
    ControlOperation,
    ControlPhase,
    ControlProcedure,
    ControlRecipe,
    ControlUnitProcedure,
    FormulaOverride,
    ResolvedParameter,
    UnitBinding,
)
from mes_runtime.domain.errors import (
    CommandNotAllowed,
    ConditionError,
    DomainError,
    ExecutionError,
    RecipeError,
)
from mes_runtime.domain.execution import Advance, Graph, GraphRun, StepStatus
from mes_runtime.domain.limits import Deviation, check_sample, classify
from mes_runtime.domain.recipe import (
    Criticality,
    Element,
    EquipmentRequirement,
    FormulaParameter,
    Header,
    MasterRecipe,
    MonitorLimit,
    Operation,
    ParameterBinding,
    Phase,
    Procedure,
    RecipeStatus,
    Transition,
    UnitProcedure,
)
from mes_runtime.domain.states import (
    COMPLETION,
    Command,
    ElementState,
    allowed_commands,
    apply_command,
    complete_transient,
    is_active,
    is_final,
    is_transient,
)
from mes_runtime.domain.validation import IssueCode, ValidationIssue, validate_recipe

__all__ = [
    "COMPLETION",
    "Advance",
    "Capabilities",
    "Capability",
    "Command",
    "CommandNotAllowed",
    "Condition",
    "ConditionError",
    "ControlElement",
    "ControlOperation",
    "ControlPhase",
    "ControlProcedure",
    "ControlRecipe",
    "ControlUnitProcedure",
    "Criticality",
    "Deviation",
    "DomainError",
    "Element",
    "ElementState",
    "EquipmentRequirement",
    "ExecutionError",
    "FormulaOverride",
    "FormulaParameter",
    "Graph",
    "GraphRun",
    "Header",
    "IssueCode",
    "MasterRecipe",
    "MonitorLimit",
    "Operation",
    "ParameterBinding",
    "ParameterSpec",
    "Phase",
    "Procedure",
    "ProcessValueSpec",
    "RecipeError",
    "RecipeStatus",
    "ResolvedParameter",
    "StepStatus",
    "Transition",
    "UnitBinding",
    "UnitProcedure",
    "ValidationIssue",
    "allowed_commands",
    "apply_command",
    "check_sample",
    "classify",
    "complete_transient",
    "is_active",
    "is_final",
    "is_transient",
    "parse_condition",
    "validate_recipe",
]
