"""The end-to-end demo: ``mainsail quickstart``."""
