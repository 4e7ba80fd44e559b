"""MLflow's REST API on Mainsail's own objects, so MLflow code runs unchanged with
``MLFLOW_TRACKING_URI=http://<mainsail server>``.

An MLflow experiment is a Mainsail experiment, a run a tracked run, a registered model and its versions
the registry's entries (MLflow stages map onto Mainsail's), and ``mlflow-artifacts`` paths are run
artifacts or registered versions' files. The handlers translate MLflow's JSON shapes into calls of the
domain services (``tracking.service``, ``registry.service``) and never touch tables.

Every call answers in MLflow's shape; an error is ``{"error_code": ..., "message": ...}`` with MLflow's
HTTP status, and a call Mainsail does not support is ``ENDPOINT_NOT_FOUND`` naming the endpoint."""

from mainsail.mlflow_compat.dispatch import install

__all__ = ["install"]
