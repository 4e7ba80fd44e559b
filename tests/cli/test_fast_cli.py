"""The CLI answers at once: a command imports only what it uses. These check which modules a command
loads (in a fresh interpreter), not how long it takes, so they hold on a loaded machine too."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from click.testing import CliRunner

import mainsail
from mainsail.cli import main as cli_main

HEAVY = ("pandas", "pyarrow", "duckdb", "sklearn", "scipy", "fastapi", "uvicorn", "ray")
DOMAINS = ("tracking", "registry", "data", "features", "pipelines", "serving")

PROBE = """
import json, sys
sys.argv = ["mainsail", *json.loads(sys.argv[1])]
from mainsail.cli.main import app
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(args: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """The modules a ``mainsail`` command has imported by the time it finishes, and what it printed."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True, text=True,
                          timeout=300)
    printed, _, probe = proc.stdout.rpartition("\n@@")
    out = json.loads(probe)
    assert out["code"] in (0, None), proc.stdout + proc.stderr
    return set(out["modules"]), printed


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def test_version_and_help_import_no_domain_driver_or_data_library(env: dict[str, str]) -> None:
    for args in (["version"], ["--help"]):
        modules, _ = _modules_after(args, env)
        heavy = [m for m in (*HEAVY, "sqlalchemy", "httpx", "alembic") if _loaded(modules, m)]
        domains = [d for d in DOMAINS if _loaded(modules, f"mainsail.{d}")]
        assert not heavy and not domains, (args, heavy, domains)
        assert not _loaded(modules, "mainsail.client")


def test_runs_list_imports_tracking_only(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", "import mainsail\nwith mainsail.start_run(experiment='e'):\n"
                    "    mainsail.log_metric('m', 1.0)"], env=env, check=True, timeout=300)
    modules, printed = _modules_after(["runs", "list"], env)
    assert re.search(r"^\s*1 run\s*$", printed, re.M) and "1 runs" not in printed, printed  # the table's title
    assert _loaded(modules, "mainsail.tracking.service")
    heavy = [m for m in (*HEAVY, "alembic") if _loaded(modules, m)]  # migrations are current: no Alembic
    services = [d for d in DOMAINS if d != "tracking" and _loaded(modules, f"mainsail.{d}.service")]
    assert not heavy and not services, (heavy, services)


def test_help_lists_each_command_with_its_own_help() -> None:
    """``--help`` reads names and one-liners from a table so it imports nothing; they match the commands."""
    group = typer.main.get_command(cli_main.app)
    assert isinstance(group, cli_main.LazyGroup)
    lazy = CliRunner().invoke(group, ["--help"], terminal_width=200, env={"COLUMNS": "200"}).output
    for name in cli_main.COMMANDS:
        real = group.get_command(click.Context(group), name)
        assert real is not None and real.name == name
        assert (real.help or "").split("\n\n")[0].strip() == cli_main.COMMANDS[name][2], name
    loaded = CliRunner().invoke(group, ["--help"], terminal_width=200, env={"COLUMNS": "200"}).output
    assert lazy == loaded
    assert "runs" in lazy and "Tracked training runs" in lazy


def test_public_names_resolve_lazily() -> None:
    from mainsail.client.client import Client
    from mainsail.client.fluent import start_run

    assert mainsail.Client is Client and mainsail.start_run is start_run
    assert set(mainsail.__all__) <= set(dir(mainsail))
    assert mainsail.datasets.__name__ == "mainsail.data.fluent"
    with pytest.raises(AttributeError):
        mainsail.not_a_name  # noqa: B018


def _module_cycles(root: Path) -> list[list[str]]:
    """Cycles among the modules of the package at ``root``, following imports run at import time."""
    mods: dict[str, Path] = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p

    def imports(body: list[ast.stmt], out: set[str]) -> None:
        for n in body:
            if isinstance(n, ast.Import):
                out.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                out.update([n.module, *(f"{n.module}.{a.name}" for a in n.names)])
            elif isinstance(n, ast.If) and not (isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"):
                imports(n.body, out)
                imports(n.orelse, out)
            elif isinstance(n, ast.Try):
                imports(n.body, out)

    graph: dict[str, set[str]] = {}
    for m, p in mods.items():
        names: set[str] = set()
        imports(ast.parse(p.read_text()).body, names)
        deps = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)} & mods.keys()
        if "." in m and m.rsplit(".", 1)[0] in mods:
            deps.add(m.rsplit(".", 1)[0])  # a package runs before its modules
        graph[m] = deps - {m}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle_between_packages() -> None:
    """A package may import its own modules in ``__init__``; no cycle may join two packages (e.g. the
    Client composing ``pipelines.sdk`` while ``pipelines`` imports the Client)."""
    root = Path(mainsail.__file__).parent
    crossing = [c for c in _module_cycles(root) if len({".".join(m.split(".")[:2]) for m in c}) > 1
                or "mainsail" in c]
    assert not crossing, crossing


def test_domain_sdk_does_not_import_the_client() -> None:
    code = ("import sys, mainsail.pipelines.sdk, mainsail.pipelines.service; "
            "print('mainsail.client.client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"
