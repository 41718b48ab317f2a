"""A job in a forked child: its result comes back, what it imports stays in the child, and a
child that fails, dies, hangs or is stopped with the service is reported as such."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from agent import forked

pytestmark = pytest.mark.skipif(not forked.AVAILABLE, reason="no fork on this platform")


@pytest.fixture(autouse=True)
def _not_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "_stopping", False)


def test_the_result_comes_back_and_the_childs_imports_stay_in_the_child() -> None:
    sys.modules.pop("colorsys", None)  # as if no test had imported it before

    def job() -> dict[str, object]:
        import colorsys  # what a probe imports: a module the service has not

        return {"pid": os.getpid(), "hls": colorsys.rgb_to_hls(1.0, 0.0, 0.0)}

    answer = forked.run(job, 30)
    assert answer["hls"] == [0.0, 0.5, 1.0]
    assert answer["pid"] != os.getpid()
    assert "colorsys" not in sys.modules


def test_an_exception_in_the_child_comes_back_with_its_text() -> None:
    def job() -> None:
        raise ValueError("no such probe")

    with pytest.raises(forked.ChildFailed, match="ValueError: no such probe"):
        forked.run(job, 30)


def test_a_child_that_dies_without_a_result_is_a_failure_with_its_status() -> None:
    def job() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(forked.ChildFailed, match=r"without a result \(exit status -9\)"):
        forked.run(job, 30)


def test_a_child_past_its_deadline_is_killed_and_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    added: list[int] = []

    class Recording(set[int]):
        def add(self, pid: int) -> None:
            added.append(pid)
            super().add(pid)

    monkeypatch.setattr(forked, "_current", Recording())

    def job() -> None:
        time.sleep(60)

    started = time.monotonic()
    with pytest.raises(forked.ChildFailed, match=r"did not finish within 0\.5 s"):
        forked.run(job, 0.5)
    assert time.monotonic() - started < 30
    (pid,) = added
    with pytest.raises(ChildProcessError):  # reaped: not even a zombie is left
        os.waitpid(pid, os.WNOHANG)


def test_a_stop_of_the_service_ends_the_child_and_is_no_failure_of_the_job() -> None:
    def job() -> None:
        time.sleep(60)

    stopper = threading.Timer(0.5, forked.stop_children)
    stopper.start()
    try:
        with pytest.raises(forked.ChildStopped):
            forked.run(job, 30)
    finally:
        stopper.cancel()
