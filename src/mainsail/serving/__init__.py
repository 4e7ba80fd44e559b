"""Model serving: deployments, routing (split, shadow, canary), the replica, rollouts, batch, inference logs."""
