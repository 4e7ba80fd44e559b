"""Every domain's operation set, in one list (the API and the remote client read it)."""

from mainsail.alerts.ops import ops as alerts_ops
from mainsail.audit.ops import ops as audit_ops
from mainsail.auth.ops import ops as auth_ops
from mainsail.collab.ops import ops as collab_ops
from mainsail.core.ops import OpSet
from mainsail.data.ops import ops as data_ops
from mainsail.features.ops import ops as features_ops
from mainsail.labels.ops import ops as labels_ops
from mainsail.loops.ops import ops as loops_ops
from mainsail.monitoring.ops import ops as monitoring_ops
from mainsail.pipelines.ops import ops as pipelines_ops
from mainsail.registry.ops import ops as registry_ops
from mainsail.serving.ops import ops as serving_ops
from mainsail.tracking.ops import ops as tracking_ops

OPSETS: list[OpSet] = [tracking_ops, registry_ops, data_ops, serving_ops, pipelines_ops, features_ops,
                       alerts_ops, collab_ops, audit_ops, monitoring_ops, labels_ops, auth_ops]
OPSETS.append(loops_ops)
