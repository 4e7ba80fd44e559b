"""The data layer's API operations, declared once. Routes live under ``/api/v1/datasets``."""

from mainsail.core.ops import OpSet
from mainsail.data import service as s

ops = OpSet("datasets", projects=True)  # objects per project
ops.add("POST", "/datasets", s.create_dataset, status=201)
ops.add("GET", "/datasets", s.list_datasets)
ops.add("GET", "/datasets/{name}", s.get_dataset)
# heavy work under a read transaction, results committed in a short write one (service.writer)
ops.add("POST", "/datasets/{name}/versions", s.upload_version, status=201, write=False)
ops.add("GET", "/datasets/{name}/versions", s.list_versions)
ops.add("GET", "/datasets/{name}/diff", s.diff_versions)
ops.add("GET", "/datasets/{name}/versions/{version}", s.get_version)
ops.add("GET", "/datasets/{name}/versions/{version}/data", s.download_version)
ops.add("GET", "/datasets/{name}/versions/{version}/rows", s.select_rows)
ops.add("GET", "/datasets/{name}/versions/{version}/profile", s.get_profile)
ops.add("POST", "/datasets/{name}/versions/{version}/profile", s.profile_version, write=False)
ops.add("POST", "/datasets/{name}/versions/{version}/validations", s.validate_version, status=201,
        write=False)
ops.add("GET", "/datasets/{name}/versions/{version}/validations", s.list_validations)
