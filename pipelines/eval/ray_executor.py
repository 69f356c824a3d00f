"""`baton eval --executor ray` (extra `baton-lsp[ray]`): one Ray task per case.

The driver keeps the rate limit (the suite runner's semaphore: at most `--concurrency` cases in
flight) and the store: each task ships its case's files with it (project, session, hidden check
files, packed as one tar, so a remote node needs only Baton installed, not the suite) and sends
back the case's result and run folder, which the driver writes into the local store.
`--ray-address` connects to a cluster (`auto`, `ray://host:10001`, `host:6379`); without it a
local one is started on loopback and stopped at the end.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .case import CaseJob, CaseOutput

_FIELDS = ("project", "session", "check_files", "failure_file")


def pack_job(job: CaseJob) -> tuple[CaseJob, bytes]:
    """The job with suite paths made relative names, and a tar of those files."""
    buf = io.BytesIO()
    updates: dict[str, Any] = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in _FIELDS:
            path = getattr(job.case, name)
            if path is not None:
                tar.add(str(path), arcname=name, filter=_no_links)
                updates[name] = Path(name)
    case = job.case.model_copy(update=updates)
    return CaseJob(case=case, repeat=job.repeat, models=job.models, live=job.live, overrides=job.overrides), buf.getvalue()


def _no_links(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if info.name.endswith(("__pycache__", ".pyc")) or "/__pycache__/" in info.name:
        return None
    return info


def unpack_job(job: CaseJob, data: bytes, into: Path) -> CaseJob:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(into, filter="data")  # no absolute paths, no escaping links
    updates = {name: into / name for name in _FIELDS if getattr(job.case, name) is not None}
    return CaseJob(case=job.case.model_copy(update=updates), repeat=job.repeat, models=job.models,
                   live=job.live, overrides=job.overrides)


def run_packed(job: CaseJob, data: bytes) -> CaseOutput:
    """The Ray task: unpack the case's files on this node, run it, hand back its output."""
    import shutil

    from .case import run_case

    where = Path(tempfile.mkdtemp(prefix="baton-ray-case-"))
    try:
        return asyncio.run(run_case(unpack_job(job, data, where)))
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _env_ray_tmpdir() -> str | None:
    import os

    return os.environ.get("RAY_TMPDIR") or None


def _short_temp_dir() -> str | None:
    """Ray's socket paths must fit in 107 bytes: a long TMPDIR (pytest's, some CI's) breaks them."""
    import os

    if os.environ.get("RAY_TMPDIR"):
        return os.environ["RAY_TMPDIR"]
    if len(tempfile.gettempdir()) <= 40:
        return None  # Ray's default (under TMPDIR) fits
    return tempfile.mkdtemp(prefix="ray-", dir="/tmp")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'baton-lsp[ray]'") from None
        self._ray = ray
        self._started = False
        self._temp: str | None = None
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:  # a local cluster on loopback, just for this eval
                    self._temp = _short_temp_dir()
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                             _node_ip_address="127.0.0.1", _temp_dir=self._temp)
            except (ConnectionError, RuntimeError, ValueError, OSError) as e:
                where = f"at {address}" if address else "locally"
                raise UsageError(f"cannot start or reach a Ray cluster {where}: {e}") from None
            self._started = True
        self._task = ray.remote(max_retries=0)(run_packed)

    async def run(self, job: CaseJob) -> CaseOutput:
        packed, data = await asyncio.to_thread(pack_job, job)
        out: CaseOutput = await self._task.remote(packed, data)
        out.result.worker = f"ray:{out.result.worker}"
        return out

    async def aclose(self) -> None:
        if self._started:
            await asyncio.to_thread(self._ray.shutdown)
            self._started = False
        if self._temp and self._temp != _env_ray_tmpdir():  # the short folder made for this cluster
            import shutil

            await asyncio.to_thread(shutil.rmtree, self._temp, True)
            self._temp = None
