"""Alerts: rules on monitor results, deduplicated alerts (pending → firing → resolved), acknowledgements,
silences, and notification channels (webhook, Slack, email, log) with retried deliveries."""
