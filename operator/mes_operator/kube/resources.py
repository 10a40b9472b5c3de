"""lightkube resource classes for our custom resources and the children we manage."""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import (
    ConfigMap,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.policy_v1 import PodDisruptionBudget

from mes_operator.models.crds import (
    EQUIPMENT,
    GROUP,
    MESMODULE,
    QUALIFICATION,
    QUALIFICATION_APPROVAL,
    VERSION,
)

MESModule: Any = create_namespaced_resource(
    GROUP, VERSION, MESMODULE.kind, MESMODULE.plural, verbs=None
)
Equipment: Any = create_namespaced_resource(
    GROUP, VERSION, EQUIPMENT.kind, EQUIPMENT.plural, verbs=None
)
Qualification: Any = create_namespaced_resource(
    GROUP, VERSION, QUALIFICATION.kind, QUALIFICATION.plural, verbs=None
)
QualificationApproval: Any = create_namespaced_resource(
    GROUP, VERSION, QUALIFICATION_APPROVAL.kind, QUALIFICATION_APPROVAL.plural, verbs=None
)

CHILD_RESOURCES: dict[str, Any] = {
    "ServiceAccount": ServiceAccount,
    "ConfigMap": ConfigMap,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "Deployment": Deployment,
    "Service": Service,
    "PodDisruptionBudget": PodDisruptionBudget,
    "Job": Job,  # an upgrade's backup and migrations (upgrade/execute.py)
}
"""lightkube class of each kind the builders produce."""

__all__ = [
    "CHILD_RESOURCES",
    "Equipment",
    "MESModule",
    "Pod",
    "Qualification",
    "QualificationApproval",
    "Secret",
]
