"""HTTP API: the app factory and routes derived from each domain's declared operations."""
