"""The executor interface on a Ray cluster (extra `baton-lsp[ray]`): one Ray task per job.

Everything but the job's body stays on the driver: the bound on jobs in flight (`limit`, so a
cluster cannot flood a rate-limited endpoint), results in the order given, per-job timeouts,
callbacks and sandboxes (all inherited from `LocalExecutor`). Only `Job.of` jobs can be shipped:
the module-level function goes by reference (Baton must be installed on the nodes), the payload
and the returned value are pickled. A timed-out or cancelled job's task is cancelled on the
cluster too.

`address` connects to a cluster (`auto`, `ray://host:10001`, `host:6379`); without it a local
one is started on loopback for this executor and stopped by `aclose()`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import UsageError
from .executor import Job, LocalExecutor

T = TypeVar("T")


def run_shipped(fn: Callable[[Any], Awaitable[T]], payload: Any) -> T:
    """The Ray task: run one shipped job to the end on a worker's own event loop."""
    return asyncio.run(fn(payload))  # type: ignore[arg-type]  # an awaitable from an async def


def _short_temp_dir() -> str | None:
    """Ray's socket paths must fit in 107 bytes: a long TMPDIR (pytest's, some CI's) breaks them."""
    if os.environ.get("RAY_TMPDIR"):
        return os.environ["RAY_TMPDIR"]
    if len(tempfile.gettempdir()) <= 40:
        return None  # Ray's default (under TMPDIR) fits
    return tempfile.mkdtemp(prefix="ray-", dir="/tmp")


class RayExecutor(LocalExecutor):
    """`LocalExecutor`'s scheduling on the driver, each job's body a Ray task."""

    name = "ray"
    remote = True

    def __init__(self, limit: int = 4, address: str | None = None, *, num_cpus: int | None = None) -> None:
        super().__init__(limit)
        try:
            import ray
        except ImportError:
            raise UsageError("the Ray executor needs Ray: pip install 'baton-lsp[ray]'") from None
        self._ray = ray
        self._started = False
        self._temp: str | None = None
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:  # a local cluster on loopback, just for this executor
                    self._temp = _short_temp_dir()
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                             _node_ip_address="127.0.0.1", _temp_dir=self._temp)
            except (ConnectionError, RuntimeError, ValueError, OSError) as e:
                where = f"at {address}" if address else "locally"
                raise UsageError(f"cannot start or reach a Ray cluster {where}: {e}") from None
            self._started = True
        self._task: Any = ray.remote(max_retries=0)(run_shipped)

    async def _invoke(self, job: Job[T]) -> T:
        if job.shipped is None:
            raise TypeError(f"job {job.key} is a closure; a remote executor ships only Job.of(key, fn, payload)")
        fn, payload = job.shipped
        ref = self._task.remote(fn, payload)
        try:
            return await ref  # type: ignore[no-any-return]
        except asyncio.CancelledError:  # cancelled or timed out on the driver: stop the task on the cluster
            self._ray.cancel(ref, force=True)
            raise
        except self._ray.exceptions.RayTaskError as e:  # the job's own error, as if it had run here
            cause = getattr(e, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise

    async def aclose(self) -> None:
        if self._started:
            await asyncio.to_thread(self._ray.shutdown)
            self._started = False
        if self._temp and self._temp != os.environ.get("RAY_TMPDIR"):  # the short folder made for this cluster
            await asyncio.to_thread(shutil.rmtree, self._temp, True)
            self._temp = None


__all__ = ["RayExecutor", "run_shipped"]
