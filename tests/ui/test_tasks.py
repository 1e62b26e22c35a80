"""TaskRunner: the call runs on another thread, its result comes back on the GUI thread, the
busy state goes on and off, and a stopped runner calls nothing back."""

from __future__ import annotations

import threading

from ui.tasks import TaskRunner


def test_a_call_runs_off_the_gui_thread_and_answers_on_it(qtbot):
    runner = TaskRunner()
    gui = threading.get_ident()
    ran_on, answered_on, results, busy = [], [], [], []
    runner.busy_changed.connect(busy.append)

    def call() -> int:
        ran_on.append(threading.get_ident())
        return 42

    def done(result: int) -> None:
        answered_on.append(threading.get_ident())
        results.append(result)

    assert runner.run(call, done)
    assert runner.busy
    assert runner.wait()
    assert results == [42]
    assert ran_on != [gui] and len(ran_on) == 1
    assert answered_on == [gui]
    assert busy == [True, False] and not runner.busy


def test_a_failure_is_reported_with_its_message(qtbot):
    runner = TaskRunner()
    failures = []

    def call() -> None:
        raise ValueError("the gallery is read-only")

    runner.run(call, lambda _result: failures.append("done?"), failures.append)
    assert runner.wait()
    assert failures == ["the gallery is read-only"]


def test_a_stopped_runner_calls_nothing_back(qtbot):
    runner = TaskRunner()
    release = threading.Event()
    answers = []
    runner.run(lambda: release.wait(5) or "late", answers.append)
    release.set()
    runner.stop()
    assert runner.run(lambda: "after stop", answers.append) is False
    qtbot.wait(50)
    assert answers == [] and not runner.busy


def test_a_call_that_outlives_its_runner_ends_on_its_own(qtbot):
    """A dialog closed while the service has not answered: the dialog goes, the call's thread
    is not destroyed while it runs (Qt would abort the process), nothing is called back."""
    from ui import tasks

    release = threading.Event()
    answers = []
    runner = TaskRunner()
    runner.run(lambda: release.wait(10) and "late", answers.append)
    runner.stop(timeout_ms=50)
    runner.deleteLater()
    qtbot.wait(50)
    assert len(tasks._OUTLIVING) == 1
    release.set()
    qtbot.waitUntil(lambda: not tasks._OUTLIVING, timeout=5_000)
    assert answers == []
