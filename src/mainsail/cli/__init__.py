"""The ``mainsail`` command line (typer + rich), one module per domain."""
