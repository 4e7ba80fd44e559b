"""Serving API operations, declared once: deployments under ``/deployments``, their traffic, rollouts,
replica heartbeats and inference log files."""

from mainsail.core.ops import OpSet
from mainsail.serving import service as s

ops = OpSet("serving", projects=True)  # objects per project
ops.add("POST", "/deployments", s.create_deployment, status=201)
ops.add("GET", "/deployments", s.list_deployments)
ops.add("GET", "/deployments/{name}", s.get_deployment)
ops.add("DELETE", "/deployments/{name}", s.delete_deployment)
ops.add("GET", "/deployments/{name}/history", s.history)
ops.add("PUT", "/deployments/{name}/traffic", s.set_traffic)
ops.add("PUT", "/deployments/{name}/sampling", s.set_sampling)
ops.add("POST", "/deployments/{name}/rollout", s.start_rollout, status=201)
ops.add("POST", "/deployments/{name}/rollout/tick", s.tick_rollout)
ops.add("POST", "/deployments/{name}/rollback", s.rollback)
ops.add("PUT", "/deployments/{name}/replicas/{replica_id}", s.report_replica)
ops.add("POST", "/deployments/{name}/inference-logs", s.add_inference_log, status=201)
ops.add("GET", "/deployments/{name}/inference-logs", s.list_inference_logs)
ops.add("GET", "/deployments/{name}/inference-logs/{digest}", s.read_inference_log)
