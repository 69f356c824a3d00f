"""The one interface through which patterns run sandboxed work and agent steps.

A pattern never starts sandboxes or fans work out by itself: it asks an `Executor`, so a
distributed executor (Ray, for eval suites and big fan-outs) can replace the local one
without touching the pattern.

The contract
------------
- `executor.sandbox(root, overlay, excludes)` → an async context manager yielding a
  `Sandbox` (pipelines/sandbox.py): an isolated copy of the workspace whose `run_tests` is
  confined. It is removed on exit, on failure and on cancellation, always.
- `executor.run(jobs)` runs `Job`s concurrently, at most `limit` at once, and returns one
  `JobResult` per job **in the order given** (never completion order: callers stay
  deterministic). A job that raises, or outlives its own `timeout_s`, is reported as
  `failed` / `timed_out` and does not stop its siblings. Cancelling the awaiting task
  cancels every job still running or queued, waits until each has finished its cleanup
  (sandboxes removed), then re-raises CancelledError.
- `on_start` / `on_done` callbacks fire on the caller's event loop as each job starts and
  ends (progress: "3/8 modules done").
- A job's `wait_for` (if any) is awaited before it takes a slot, so a job that waits for
  others' results (module dependencies) never holds a slot while it waits.
- A job is an async callable of no arguments returning a value. The local executor calls
  it in-process. A remote executor (`remote` is true) must ship it, so a job for one is made
  with `Job.of(key, fn, payload)`: a module-level function and a picklable payload, and the
  value it returns is data (pydantic models / plain types), never a live object. Sandboxes
  stay on the driver's disk whatever the executor.
- Errors that are `BatonError`s keep their message (it is written for the user); others
  are reported as "internal error: Type: message".

`LocalExecutor` is the asyncio implementation used everywhere; `ray_executor.RayExecutor`
(extra `baton-lsp[ray]`) ships `Job.of` jobs as Ray tasks, with the same bound, order,
timeouts and cancellation kept on the driver (it subclasses `LocalExecutor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from .errors import BatonError
from .sandbox import Sandbox

T = TypeVar("T")
P = TypeVar("P")

JobStatus = Literal["ok", "failed", "timed_out", "cancelled"]


@dataclass(frozen=True)
class Job(Generic[T]):
    """One unit of work: `key` names it in results and progress (unique within one `run`)."""

    key: str
    fn: Callable[[], Awaitable[T]]
    timeout_s: float | None = None
    wait_for: Callable[[], Awaitable[None]] | None = None  # awaited before taking a slot (dependencies)
    # set by `of`: what a remote executor ships instead of `fn` (a closure it cannot send)
    shipped: tuple[Callable[[Any], Awaitable[T]], Any] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, key: str, fn: Callable[[P], Awaitable[T]], payload: P, timeout_s: float | None = None) -> Job[T]:
        """A job as a module-level function and its payload: the shape a remote executor can ship."""
        return cls(key, lambda: fn(payload), timeout_s, shipped=(fn, payload))


@dataclass
class JobResult(Generic[T]):
    key: str
    status: JobStatus
    value: T | None = None
    error: str | None = None
    queued_s: float = 0.0  # waiting for a slot
    duration_s: float = 0.0  # running
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Executor(Protocol):
    """What a pattern may ask of an executor (see the module docstring for the contract)."""

    limit: int
    name: str  # "local", "ray": shown in reports
    remote: bool  # jobs leave this process: only `Job.of` jobs, values come back as data

    def sandbox(self, root: Path | str, overlay: Mapping[str, str] | None = None,
                excludes: Iterable[str] = (), *,
                reuse_head: bool = False) -> contextlib.AbstractAsyncContextManager[Sandbox]: ...

    async def run(self, jobs: Sequence[Job[T]], *, on_start: Callable[[str], None] | None = None,
                  on_done: Callable[[JobResult[T]], None] | None = None) -> list[JobResult[T]]: ...

    async def aclose(self) -> None: ...


class LocalExecutor:
    """Jobs as asyncio tasks in this process, bounded by a semaphore; sandboxes on local disk."""

    name = "local"
    remote = False

    def __init__(self, limit: int = 4) -> None:
        if limit < 1:
            raise ValueError(f"an executor needs a limit of at least 1, got {limit}")
        self.limit = limit
        self.peak = 0  # most jobs seen running at once (for reports and tests)
        self._running = 0

    @contextlib.asynccontextmanager
    async def sandbox(self, root: Path | str, overlay: Mapping[str, str] | None = None,
                      excludes: Iterable[str] = (), *, reuse_head: bool = False) -> AsyncIterator[Sandbox]:
        async with Sandbox.create(root, overlay, excludes, reuse_head=reuse_head) as sb:
            yield sb

    async def run(self, jobs: Sequence[Job[T]], *, on_start: Callable[[str], None] | None = None,
                  on_done: Callable[[JobResult[T]], None] | None = None) -> list[JobResult[T]]:
        keys = [j.key for j in jobs]
        if len(set(keys)) != len(keys):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"job keys must be unique within one run; repeated: {', '.join(dup)}")
        gate = asyncio.Semaphore(self.limit)
        tasks = [asyncio.create_task(self._one(job, gate, on_start, on_done), name=f"baton-job-{job.key}")
                 for job in jobs]
        try:
            return list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            # let every job run its cleanup (sandbox removal) before the cancel goes on
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _one(self, job: Job[T], gate: asyncio.Semaphore, on_start: Callable[[str], None] | None,
                   on_done: Callable[[JobResult[T]], None] | None) -> JobResult[T]:
        if job.wait_for is not None:  # waiting on other jobs' effects must not hold a slot
            await job.wait_for()
        queued_at = time.monotonic()
        async with gate:
            started = time.monotonic()
            self._running += 1
            self.peak = max(self.peak, self._running)
            if on_start is not None:
                on_start(job.key)
            try:
                result = await self._call(job)
            finally:
                self._running -= 1
            result.queued_s = round(started - queued_at, 3)
            result.duration_s = round(time.monotonic() - started, 3)
        if on_done is not None:
            on_done(result)
        return result

    async def aclose(self) -> None:
        """Nothing to release here; a remote executor disconnects from its cluster."""

    async def _invoke(self, job: Job[T]) -> T:
        """Where a job actually runs: here, in this process (a remote executor ships it)."""
        return await job.fn()

    async def _call(self, job: Job[T]) -> JobResult[T]:
        try:
            async with asyncio.timeout(job.timeout_s):
                value = await self._invoke(job)
        except TimeoutError:
            return JobResult(job.key, "timed_out", error=f"{job.key}: no result within its {job.timeout_s:g}s limit")
        except asyncio.CancelledError:
            raise
        except BatonError as e:
            return JobResult(job.key, "failed", error=str(e), exception=e)
        except Exception as e:  # one job's bug must not take its siblings down; it is reported
            return JobResult(job.key, "failed", error=f"internal error: {type(e).__name__}: {e}", exception=e)
        return JobResult(job.key, "ok", value=value)


def local_executor(limit: int) -> Executor:
    return LocalExecutor(limit)


__all__ = ["Executor", "Job", "JobResult", "JobStatus", "LocalExecutor", "local_executor"]
