"""Every fenced ``python`` and ``bash`` block of README.md and docs/*.md runs, in order per file,
against a MAINSAIL_HOME that ``mainsail quickstart --skip-serving`` made (once per session; each file
gets its own copy). A block preceded by ``<!-- no-run: reason -->`` is skipped; one preceded by
``<!-- file: NAME -->`` (any language) is written to NAME in the working directory, for the blocks
after it. Python blocks of one file share one interpreter; bash blocks run with the venv's ``bin``
first on PATH, in the same working directory, with ``$PORT`` set to a free port."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"python", "bash"}
FENCE = re.compile(r"^```\s*([\w+-]*)")
NO_RUN = re.compile(r"^<!--\s*no-run:\s*(.*?)\s*-->\s*$")
AS_FILE = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->\s*$")
FILE_TIMEOUT = 900


@dataclass
class Block:
    file: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the no-run reason
    file_name: str | None = None  # written to this file instead of run


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the no-run reason of the line before each."""
    out: list[Block] = []
    lines = path.read_text().splitlines()
    i, previous = 0, ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        no_run, as_file = NO_RUN.match(previous), AS_FILE.match(previous)
        out.append(Block(str(path.relative_to(ROOT)), start + 1, lang, "\n".join(body) + "\n",
                         no_run.group(1) if no_run else None, as_file.group(1) if as_file else None))
        previous, i = "", i + 1
    return out


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINSAIL_") or k == "MAINSAIL_TEST_REQUIRE_SERVICES"}
    env.update(MAINSAIL_HOME=str(home), COLUMNS="120", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
               PORT=str(_free_port()))
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != src)])
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def quickstart_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home made by ``mainsail quickstart --skip-serving``, as a reader of the README has one: made
    once per session and shared by pytest-xdist workers (under a file lock in their common temp dir)."""
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    home, done = shared / "docs-quickstart-home", shared / "docs-quickstart-home.done"
    with (shared / "docs-quickstart-home.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(home, ignore_errors=True)
            proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", "quickstart", "--skip-serving"],
                                  env=_env(home), capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            done.touch()
    return home


def test_no_run_markers_give_a_reason() -> None:
    for path in DOCS:
        for b in blocks(path):
            if b.skip is not None:
                assert b.skip, f"{b.file}:{b.line}: <!-- no-run: --> needs a reason"


@pytest.mark.timeout(FILE_TIMEOUT + 600)  # the quickstart and a whole document on a loaded machine
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_code_blocks_run(doc: Path, quickstart_home: Path, tmp_path: Path) -> None:
    runnable = [b for b in blocks(doc) if (b.lang in RUNNABLE or b.file_name) and b.skip is None]
    if not runnable:
        pytest.skip(f"{doc.name} has no runnable blocks")
    home = tmp_path / "home"
    shutil.copytree(quickstart_home, home)
    work = tmp_path / "work"
    work.mkdir()
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps([asdict(b) for b in runnable]))
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("_run_blocks.py")), str(spec)],
                          cwd=work, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=FILE_TIMEOUT)
    failed = re.search(r"DOCS-BLOCK-FAILED (\S+)", proc.stdout)
    where = failed.group(1) if failed else doc.name
    code = next((b.code for b in runnable if f"{b.file}:{b.line}" == where), "")
    assert proc.returncode == 0, f"block at {where} failed:\n{code}\n--- output (tail)\n{proc.stdout[-6000:]}"
