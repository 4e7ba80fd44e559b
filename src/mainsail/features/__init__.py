"""Feature store: entities, feature views and services, point-in-time offline retrieval, the online
store, materialization and push."""
