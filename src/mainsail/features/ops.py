"""The feature store's API operations, declared once. Routes live under ``/api/v1/feature-sets``."""

from mainsail.core.ops import OpSet
from mainsail.features import service as s

ops = OpSet("features", projects=True)  # objects per project
ops.add("POST", "/feature-sets", s.apply, status=201)
ops.add("GET", "/feature-sets", s.list_feature_sets)
ops.add("POST", "/feature-sets/online", s.get_online_features, write=False)
ops.add("POST", "/feature-sets/historical", s.get_historical_features, write=False)
ops.add("POST", "/feature-sets/materialize", s.materialize, write=False)
ops.add("POST", "/feature-sets/push", s.push)
ops.add("GET", "/feature-sets/views/{name}/stats", s.view_stats)
ops.add("GET", "/feature-sets/{kind}/{name}", s.get_definition)
ops.add("GET", "/feature-sets/{kind}/{name}/versions", s.list_versions)
