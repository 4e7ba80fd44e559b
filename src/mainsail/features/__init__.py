"""Feature store: entities, feature views and services, point-in-time offline retrieval, the online
store, materialization and push. Definitions: ``from mainsail.features import Entity, FeatureView,
FeatureService`` (imported on first use)."""

from typing import Any

__all__ = ["Entity", "FeatureService", "FeatureView"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mainsail.features import schemas

        return getattr(schemas, name)
    raise AttributeError(f"module 'mainsail.features' has no attribute {name!r}")
