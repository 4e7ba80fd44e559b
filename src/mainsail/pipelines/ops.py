"""Pipeline API operations, declared once. ``/runs`` is the seeds' noun for pipeline runs (tracked
training runs are ``/tracking-runs``)."""

from mainsail.core.ops import OpSet
from mainsail.pipelines import service as s

ops = OpSet("pipelines", projects=True)  # objects per project
ops.add("POST", "/pipelines", s.apply_pipeline, status=201)
ops.add("GET", "/pipelines", s.list_pipelines)
ops.add("GET", "/pipelines/{name}", s.get_pipeline)
ops.add("GET", "/pipelines/{name}/versions", s.list_pipeline_versions)
ops.add("PUT", "/pipeline-code/{digest}", s.put_code)
ops.add("GET", "/pipeline-code/{digest}", s.get_code)
ops.add("POST", "/pipelines/{name}/schedules", s.create_schedule, status=201)
ops.add("GET", "/pipeline-schedules", s.list_schedules)
ops.add("DELETE", "/pipeline-schedules/{id}", s.delete_schedule)
ops.add("GET", "/pipeline-operators", s.list_operators)
ops.add("POST", "/runs", s.create_run, status=201)
ops.add("GET", "/runs", s.list_runs)
ops.add("GET", "/runs/{id}", s.get_run)
ops.add("POST", "/runs/{id}/cancel", s.cancel_run)
ops.add("GET", "/runs/{id}/tasks/{task}/log", s.get_task_log)
