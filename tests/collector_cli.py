"""``inventar-collector ARGV`` run in the test process: ``collector.cli.main``, what the
console script runs, with its output captured. For tests whose subject is what a command
does to a served database, not the process: each console-script process spends over a
second starting Python and importing the collector. The console script itself is run as a
process in tests/integration/test_collector_e2e.py (and by the tests that check a
command's exit status and message from the process)."""

from __future__ import annotations

import gc
import io
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest

from collector.cli import main


def run_cli(argv: list[str], db_url: str) -> subprocess.CompletedProcess[str]:
    """The command's exit status, stdout and stderr, with INVENTAR_DATABASE_URL=db_url
    (as the subprocess got it in its environment)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env, redirect_stdout(out), redirect_stderr(err):
        env.setenv("INVENTAR_DATABASE_URL", db_url)
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's errors
            rc = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    if not db_url.startswith("sqlite"):
        # The command's Database is garbage in a reference cycle (its engine's event
        # listeners are its bound methods): collected now, its pooled PostgreSQL
        # connection is closed now, as at the end of a process.
        gc.collect()
    return subprocess.CompletedProcess(argv, rc, out.getvalue(), err.getvalue())
