import threading
import time
from concurrent.futures import CancelledError

import pytest

from chatterbox_shim.worker import InferenceWorker, QueueFullError


@pytest.fixture
def worker():
    w = InferenceWorker(depth=2)
    w.start()
    yield w
    w.stop()


def test_runs_jobs_in_order_on_one_thread(worker):
    threads, order = set(), []

    def job(i):
        def run():
            threads.add(threading.get_ident())
            order.append(i)
            return i

        return run

    jobs = [worker.submit(job(i)) for i in range(2)]
    assert [j.future.result(5) for j in jobs] == [0, 1]
    assert len(threads) == 1
    assert threading.get_ident() not in threads


def test_full_queue_refuses_at_once(worker):
    gate = threading.Event()
    worker.submit(gate.wait)
    time.sleep(0.1)  # the worker takes the first job, the queue is empty again
    worker.submit(lambda: 1)
    worker.submit(lambda: 2)
    started = time.perf_counter()
    with pytest.raises(QueueFullError):
        worker.submit(lambda: 3)
    assert time.perf_counter() - started < 0.1
    gate.set()


def test_abandoned_job_never_runs(worker):
    gate, ran = threading.Event(), []
    worker.submit(gate.wait)
    time.sleep(0.1)
    queued = worker.submit(lambda: ran.append(1))
    assert queued.abandon() is True
    gate.set()
    follow = worker.submit(lambda: "next")
    assert follow.future.result(5) == "next"
    assert ran == []
    assert worker.skipped_abandoned == 1
    with pytest.raises(CancelledError):
        queued.future.result(0)


def test_running_job_cannot_be_abandoned(worker):
    gate = threading.Event()
    job = worker.submit(gate.wait)
    time.sleep(0.1)
    assert job.abandon() is False
    gate.set()
    assert job.future.result(5) is True


def test_exceptions_reach_the_caller(worker):
    def boom():
        raise ValueError("model broke")

    with pytest.raises(ValueError, match="model broke"):
        worker.submit(boom).future.result(5)
    assert worker.submit(lambda: "still alive").future.result(5) == "still alive"
