#!/usr/bin/env bash
# The reliability suite (issue 18): kill -9 during writes and of pipeline runs, two embedded processes on one SQLite home,
# 16 clients of sustained writes, the database restarting mid-traffic. Real processes and services; prints
# a table of every check and its numbers at the end. Sizes: MAINSAIL_RELIABILITY_TRIALS (default 20),
# MAINSAIL_RELIABILITY_SECONDS (default 60).
set -uo pipefail
cd "$(dirname "$0")/.."
python -m pytest reliability -q -p no:cacheprovider --timeout 900 "$@"
rc=$?
if [[ $rc -eq 5 ]]; then echo "no reliability checks were collected: failing"; exit 1; fi
exit $rc
