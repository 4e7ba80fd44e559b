"""Loop API operations, declared once. Policies under ``/api/v1/loops``, their runs (episodes, each with
its recorded steps) under ``/api/v1/loop-runs``."""

from mainsail.core.ops import OpSet
from mainsail.loops import service as s

ops = OpSet("loops", projects=True)  # objects per project
ops.add("POST", "/loops", s.create_policy, status=201, name="create_loop_policy")
ops.add("GET", "/loops", s.list_policies, name="list_loop_policies")
ops.add("GET", "/loops/{name}", s.get_policy, name="get_loop_policy")
ops.add("PUT", "/loops/{name}", s.update_policy, name="update_loop_policy")
ops.add("DELETE", "/loops/{name}", s.delete_policy, name="delete_loop_policy")
ops.add("GET", "/loop-runs", s.list_runs, name="list_loop_runs")
ops.add("GET", "/loop-runs/{id}", s.get_run, name="get_loop_run")
ops.add("POST", "/loop-runs/tick", s.tick_now, name="tick_loop_runs")
