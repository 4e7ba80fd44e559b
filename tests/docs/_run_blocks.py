"""Runs one document's code blocks in order (invoked by test_docs.py in a fresh interpreter): python
blocks share this interpreter's globals (a block marked as a file is written instead), bash blocks run with ``bash -e -o pipefail`` in the same
working directory. Stops at the first failure, printing a marker line the test reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

BLOCK_TIMEOUT = float(os.environ.get("MAINSAIL_DOCS_BLOCK_TIMEOUT", "180"))


def main(blocks_file: str) -> int:
    blocks = json.loads(Path(blocks_file).read_text())
    ns: dict[str, object] = {"__name__": "__main__"}
    for b in blocks:
        where = f"{b['file']}:{b['line']}"
        print(f"\n=== {b['lang']} block at {where}", flush=True)
        started = time.perf_counter()
        try:
            if b.get("file_name"):
                Path(b["file_name"]).write_text(b["code"])
            elif b["lang"] == "python":
                exec(compile(b["code"], where, "exec"), ns)  # noqa: S102 - running the docs is the point
                sys.stdout.flush()
            else:
                proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b["code"]], timeout=BLOCK_TIMEOUT,
                                      stdout=sys.stdout, stderr=subprocess.STDOUT)
                if proc.returncode != 0:
                    raise RuntimeError(f"bash exited with {proc.returncode}")
        except BaseException:  # noqa: BLE001 - reported with the block's place
            traceback.print_exc(file=sys.stdout)
            print(f"\nDOCS-BLOCK-FAILED {where}", flush=True)
            return 1
        print(f"=== {where} took {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
