"""Closed-loop policies: drift or an alert → retrain → gate → register → canary → promote or roll back."""
