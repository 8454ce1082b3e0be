"""The fault suite's table: runs ``pytest -m faults`` (plus the tests of issue 30's races and of
a full upload store, which live next to their fixes) with ``MAI_FAULT_TIMES`` set, so each fault test records its outcome and how long the
platform took to recover, and prints the rows as the Markdown table of benchmarks/RESULTS.md
with the machine's load before and after.

    python benchmarks/fault_suite.py [--out fault-times.jsonl] [-- extra pytest args]

Time to recover: from the fault's end (the database started again, the server restarted, the
worker killed) to the last affected submission Finished, as the test saw it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the faults the suite includes that are tested where their fix lives: the races (issue 30
# items 1, 4, 11) and the full upload store (item 9)
RACES = ["tests/server/test_stalls.py::test_two_results_committed_at_once_finish_the_submission",
         "tests/server/test_stalls.py::test_simultaneous_junk_uploads_stop_at_the_failed_limit",
         "tests/server/test_stalls.py::test_no_job_is_leased_to_a_worker_that_hung_up",
         "tests/server/test_stalls.py::test_a_lease_without_its_first_heartbeat_expires_early",
         "tests/server/test_queue.py::test_concurrent_claims_never_hand_out_a_job_twice",
         "tests/server/test_bodies.py::test_an_upload_store_that_cannot_take_the_file_answers_507_and_keeps_nothing"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="keep the JSON lines here (default: a temporary file)")
    ap.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkstemp(prefix="fault-times-", suffix=".jsonl")[1])
    out.write_text("")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    races = [r for r in RACES if (ROOT / r.split("::")[0]).exists()]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "faults", "tests/server",
                           *args.pytest_args], cwd=ROOT, env=dict(os.environ, MAI_FAULT_TIMES=str(out)))
    race = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *races, *args.pytest_args],
                          cwd=ROOT) if races else None
    took = time.monotonic() - t0
    load1 = os.getloadavg()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    print("| Fault | Outcome | Time to recover |")
    print("|---|---|---|")
    for r in rows:
        rec = "n/a" if r["recover_s"] is None else f"{r['recover_s']:.1f} s"
        print(f"| {r['fault']} | {r['outcome']} | {rec} |")
    if race is not None:
        print(f"| tested where their fix lives: {', '.join(x.split('::')[1] for x in races)} | "
              f"{'passed' if race.returncode == 0 else 'FAILED'} | n/a |")
    print(f"\nfault suite: pytest exit {proc.returncode}, {took:.0f} s in all; load average "
          f"{load0[0]:.1f} before, {load1[0]:.1f} after; {os.cpu_count()} CPUs")
    return proc.returncode or (race.returncode if race is not None else 0)


if __name__ == "__main__":
    sys.exit(main())
