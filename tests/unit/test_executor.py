"""LocalExecutor: the bound, per-job failures and timeouts, result order, and cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from baton.pipelines.errors import BatonError
from baton.pipelines.executor import Job, JobResult, LocalExecutor


async def test_runs_at_most_limit_at_once_and_keeps_the_given_order() -> None:
    ex = LocalExecutor(limit=3)
    running = 0
    seen_peak = 0
    release = asyncio.Event()

    async def work(i: int) -> int:
        nonlocal running, seen_peak
        running += 1
        seen_peak = max(seen_peak, running)
        if running == 3:
            release.set()
        await release.wait()
        await asyncio.sleep(0)
        running -= 1
        return i * 10

    results = await ex.run([Job.of(f"m{i}", work, i) for i in range(8)])
    assert [r.key for r in results] == [f"m{i}" for i in range(8)]
    assert [r.value for r in results] == [i * 10 for i in range(8)]
    assert seen_peak == 3 and ex.peak == 3
    assert all(r.ok for r in results)


async def test_a_failing_or_slow_job_does_not_stop_its_siblings() -> None:
    async def ok() -> str:
        return "done"

    async def user_error() -> str:
        raise BatonError("module a: its write set is empty")

    async def bug() -> str:
        raise KeyError("x")

    async def slow() -> str:
        await asyncio.Event().wait()
        return "never"

    done: list[JobResult[str]] = []
    results = await LocalExecutor(2).run(
        [Job("a", user_error), Job("b", ok), Job("c", bug), Job("d", slow, timeout_s=0.05)], on_done=done.append)
    by = {r.key: r for r in results}
    assert by["a"].status == "failed" and by["a"].error == "module a: its write set is empty"
    assert by["b"].status == "ok" and by["b"].value == "done"
    assert by["c"].status == "failed" and by["c"].error == "internal error: KeyError: 'x'"
    assert by["d"].status == "timed_out" and "0.05s" in (by["d"].error or "")
    assert sorted(r.key for r in done) == ["a", "b", "c", "d"]


async def test_cancel_stops_every_job_and_waits_for_their_cleanup() -> None:
    started = 0
    cleaned: list[str] = []
    all_started = asyncio.Event()

    async def work(key: str) -> None:
        nonlocal started
        started += 1
        if started == 4:
            all_started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(key)

    ex = LocalExecutor(4)
    task = asyncio.create_task(ex.run([Job.of(f"m{i}", work, f"m{i}") for i in range(6)]))
    await all_started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cleaned) == ["m0", "m1", "m2", "m3"]  # the two queued jobs never started


async def test_repeated_keys_are_refused() -> None:
    async def ok() -> None:
        return None

    with pytest.raises(ValueError, match="repeated: a"):
        await LocalExecutor(2).run([Job("a", ok), Job("a", ok)])


async def test_sandbox_is_removed_on_exit(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.txt").write_text("hello\n")
    async with LocalExecutor(1).sandbox(tmp_path / "ws") as sb:
        path = sb.path
        assert (path / "a.txt").read_text() == "hello\n"
    assert not path.exists()
