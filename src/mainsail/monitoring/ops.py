"""Monitoring API operations, declared once. Routes live under ``/api/v1/monitors``."""

from mainsail.core.ops import OpSet
from mainsail.monitoring import service as s

ops = OpSet("monitors", projects=True)  # objects per project
ops.add("POST", "/monitors", s.create_monitor, status=201)
ops.add("GET", "/monitors", s.list_monitors)
ops.add("GET", "/monitors/{name}", s.get_monitor)
ops.add("DELETE", "/monitors/{name}", s.delete_monitor)
# the windows are computed under a read transaction; results, run and events commit in one short write
ops.add("POST", "/monitors/{name}/runs", s.run_monitor, status=201, write=False)
ops.add("GET", "/monitors/{name}/runs", s.list_runs)
ops.add("GET", "/monitors/{name}/results", s.get_results)
