"""Experiment tracking: experiments, runs, params, tags, metrics and artifacts."""
