"""Labels API operations, declared once: pushes under ``/labels``, measured performance under
``/deployments/{name}/performance``."""

from mainsail.core.ops import OpSet
from mainsail.labels import service as s

ops = OpSet("labels", projects=True)  # objects per project
# the log scan runs under a read transaction; the upsert commits in a short write one
ops.add("POST", "/labels", s.push_labels, write=False)
ops.add("GET", "/deployments/{name}/performance", s.get_performance)
