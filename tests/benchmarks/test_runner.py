"""``python -m benchmarks``: scripts hand over their headline tables, which land between the generated-section
markers of docs/benchmarks.md; a peer's wrong output is an exit code of its own, never a silent ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402


def test_verdict_separates_ours_from_a_wrong_peer(capsys) -> None:
    assert _common.verdict(True, {"Feast duckdb store": True}) == 0
    assert _common.verdict(True, {"Feast file store": "returned 73,864 of 100,000 entity rows"}) == _common.PEER_WRONG
    assert "PEER OUTPUT WRONG: Feast file store: returned 73,864" in capsys.readouterr().err
    assert _common.verdict(False, {"Feast file store": "short"}) == 1


def test_summary_renders_a_table_and_replaces_only_its_own_section(tmp_path, monkeypatch) -> None:
    out = tmp_path / "s.json"
    _common.summary("untouched without the variable", ["a"], [["1"]])
    assert not out.exists()
    monkeypatch.setenv(_common.SUMMARY_ENV, str(out))
    _common.summary("Title", ["comparison", "median (min–max)"], [["peer ÷ ours | x", "2.00x (1.50–3.00)"]],
                    checks={"ours": True, "peer": "3 of 4 rows"}, notes=["a note"], load=["load 1", "load 2"])
    md = _common.render_summary(json.loads(out.read_text()))
    assert "| peer ÷ ours \\| x | 2.00x (1.50–3.00) |" in md
    assert "ours ok" in md and "**peer WRONG: 3 of 4 rows**" in md and "before → after: load 1 → load 2" in md
    assert _common.fmt_spread({"median": 1628.6, "min": 336.9, "max": 2377.6}) == "1,629x (337–2,378)"
    assert _common.fmt_spread({"median": 1.234, "min": 1.1, "max": 1.4}) == "1.23x (1.10–1.40)"
    note = _common._note("peer ray skipped: exited with 1:\n" + "  File x\n" * 100 + "Exception: node timed out")
    assert "\n" not in note and len(note) < 320 and note.endswith("Exception: node timed out")
    start, end = _common.generated_markers("tracking")
    other = _common.generated_markers("serving")
    text = f"intro\n{start}\nold\n{end}\nmiddle\n{other[0]}\nkeep\n{other[1]}\n"
    new = _common.replace_generated(text, "tracking", md)
    assert "old" not in new and md in new and "keep" in new and new.startswith("intro\n")
    assert _common.replace_generated("no markers here", "tracking", md) == "no markers here"


def test_docs_have_a_generated_section_for_each_summarised_benchmark() -> None:
    docs = (ROOT / "docs" / "benchmarks.md").read_text()
    for name in ("tracking", "registry", "data", "features", "serving"):
        start, end = _common.generated_markers(name)
        assert docs.count(start) == 1 and docs.count(end) == 1 and docs.index(start) < docs.index(end), name


def test_runner_smoke_writes_the_table_and_leaves_the_docs_alone(tmp_path) -> None:
    docs = tmp_path / "benchmarks.md"
    start, end = _common.generated_markers("tracking")
    docs.write_text(f"{start}\nold\n{end}\n")
    out = tmp_path / "results.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--only", "tracking", "--out", str(out),
                           "--docs", str(docs)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert "## tracking" in text and "| comparison (per round) | median (min–max) |" in text
    assert "Output checked: Mainsail and floors ok." in text and "load average" in text
    assert "old" in docs.read_text()  # --smoke never rewrites the docs
