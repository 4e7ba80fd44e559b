"""Every domain's operation set, in one list (the API and the remote client read it)."""

from mainsail.core.ops import OpSet
from mainsail.registry.ops import ops as registry_ops
from mainsail.serving.ops import ops as serving_ops
from mainsail.tracking.ops import ops as tracking_ops

OPSETS: list[OpSet] = [tracking_ops, registry_ops, serving_ops]
