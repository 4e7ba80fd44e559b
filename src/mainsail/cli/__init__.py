"""The ``mainsail`` command line (typer + rich): the entry point (``main.py``), shared helpers
(``common.py``) and the commands of no single domain (``server``, ``quickstart``, ``db``). Each domain's
commands live in its own ``<domain>/cli.py``."""
