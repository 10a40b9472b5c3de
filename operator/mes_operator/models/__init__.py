"""Typed models of Holon's custom resources and the CRDs generated from them."""

from mes_operator.models.conditions import Condition, ConditionStatus
from mes_operator.models.crds import API_VERSION, GROUP, KINDS, VERSION, Kind, all_crds, crd
from mes_operator.models.equipment import EquipmentSpec, EquipmentStatus
from mes_operator.models.mesmodule import (
    Colour,
    MESModuleSpec,
    MESModuleStatus,
    Phase,
    UpgradePhase,
)
from mes_operator.models.qualification import QualificationSpec, QualificationStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "Colour",
    "Condition",
    "ConditionStatus",
    "EquipmentSpec",
    "EquipmentStatus",
    "Kind",
    "MESModuleSpec",
    "MESModuleStatus",
    "Phase",
    "QualificationSpec",
    "QualificationStatus",
    "UpgradePhase",
    "all_crds",
    "crd",
]
