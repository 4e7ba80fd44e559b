"""Ground truth for served predictions: labels pushed by request id, joined to the inference logs to
measure a deployment's live performance per window and variant."""
