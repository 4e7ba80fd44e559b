"""Registry API operations, declared once. ``/models`` addresses model versions (the seeds' shape:
``POST /api/v1/models`` registers one, ``PUT /api/v1/models/{id}/stage`` moves it);
``/registered-models/{name}`` addresses a model by name with its versions, aliases and stages."""

from mainsail.core.ops import OpSet
from mainsail.registry import aliases
from mainsail.registry import service as s

ops = OpSet("registry", projects=True)  # objects per project
ops.add("POST", "/models", s.register_version, status=201)
ops.add("GET", "/models/{id}", s.get_version)
ops.add("PUT", "/models/{id}/stage", s.set_stage)  # into production: admin (checked by the service)
ops.add("GET", "/models/{id}/lineage", s.get_lineage)
ops.add("GET", "/models/{id}/card", s.get_card)
ops.add("PATCH", "/models/{id}/card", s.update_card)
ops.add("POST", "/models/{id}/gate", s.check_gate, write=False)
ops.add("GET", "/models/{id}/files/{path:path}", s.download_file)
ops.add("GET", "/registered-models", s.list_models)
ops.add("GET", "/registered-models/{name}", s.get_model)
ops.add("GET", "/registered-models/{name}/versions", s.list_versions)
ops.add("GET", "/registered-models/{name}/versions/{version}", s.get_version_by_number)
ops.add("GET", "/registered-models/{name}/aliases/{alias}", s.get_version_by_alias).fast = aliases.cached_version_by_alias
ops.add("PUT", "/registered-models/{name}/aliases/{alias}", s.set_alias, role="admin")  # aliases route traffic
ops.add("DELETE", "/registered-models/{name}/aliases/{alias}", s.delete_alias)
ops.add("GET", "/registered-models/{name}/stages/{stage}", s.get_latest_in_stage)
ops.add("GET", "/registered-models/{name}/history", s.history)
