"""Tracking's API operations, declared once. Routes live under ``/api/v1``; tracked training runs
are ``tracking-runs`` (``runs`` is the pipeline-run noun)."""

from mainsail.core.ops import OpSet
from mainsail.tracking import service as s

ops = OpSet("tracking", projects=True)  # objects per project
ops.add("POST", "/experiments", s.create_experiment, status=201)
ops.add("GET", "/experiments", s.list_experiments)
ops.add("GET", "/experiments/by-name/{name}", s.get_experiment_by_name)
ops.add("PUT", "/experiments/by-name/{name}", s.ensure_experiment)
ops.add("GET", "/experiments/{experiment_id}", s.get_experiment)
ops.add("POST", "/tracking-runs", s.create_run, status=201)
ops.add("GET", "/tracking-runs", s.search_runs)
ops.add("GET", "/tracking-runs/compare", s.compare_runs)
ops.add("GET", "/tracking-runs/{run_id}", s.get_run)
ops.add("PATCH", "/tracking-runs/{run_id}", s.update_run)
ops.add("DELETE", "/tracking-runs/{run_id}", s.delete_run)
ops.add("POST", "/tracking-runs/{run_id}/log-batch", s.log_batch)
ops.add("POST", "/tracking-runs/{run_id}/heartbeat", s.heartbeat)
ops.add("GET", "/tracking-runs/{run_id}/metrics/{key:path}", s.get_metric_history)
ops.add("GET", "/tracking-runs/{run_id}/metric-samples/{key:path}", s.sample_metric)
ops.add("GET", "/tracking-runs/{run_id}/artifacts", s.list_artifacts)
ops.add("PUT", "/tracking-runs/{run_id}/artifacts/{path:path}", s.upload_artifact, status=201)
ops.add("GET", "/tracking-runs/{run_id}/artifacts/{path:path}", s.download_artifact)
