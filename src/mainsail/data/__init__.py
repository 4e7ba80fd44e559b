"""The data layer: connectors, content-addressed dataset versions, profiles and validation suites."""
