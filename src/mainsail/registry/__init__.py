"""Model registry: registered models, versions, stages, aliases, packaging, lineage, model cards, quality gates."""
