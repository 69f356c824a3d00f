"""A case as a job a remote executor can ship: its suite files travel with it.

A remote node needs only Baton installed, not the suite: the case's project, session, hidden
check files and failure input are packed as one tar beside the job (suite paths become relative
names), unpacked into a temp folder on the worker, and removed after the case has run. The
worker's run folder comes back inside the `CaseOutput` (see case.py) and the driver writes it
into the local store (runner.py).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .case import CaseJob, CaseOutput, run_case

_FIELDS = ("project", "session", "check_files", "failure_file")


@dataclass
class PackedCase:
    """A case job whose suite paths are names inside `files` (a gzipped tar)."""

    job: CaseJob
    files: bytes


def pack_job(job: CaseJob, files: bytes | None = None) -> PackedCase:
    """The job with suite paths made relative names, and a tar of those files (`files`: the tar
    already made for this case, e.g. for another repeat)."""
    updates: dict[str, Any] = {name: Path(name) for name in _FIELDS if getattr(job.case, name) is not None}
    if files is None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name in updates:
                tar.add(str(getattr(job.case, name)), arcname=name, filter=_no_caches)
        files = buf.getvalue()
    case = job.case.model_copy(update=updates)
    return PackedCase(CaseJob(case=case, repeat=job.repeat, models=job.models, live=job.live,
                              overrides=job.overrides), files)


def _no_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if info.name.endswith(("__pycache__", ".pyc")) or "/__pycache__/" in info.name:
        return None
    return info


def unpack_job(packed: PackedCase, into: Path) -> CaseJob:
    job = packed.job
    with tarfile.open(fileobj=io.BytesIO(packed.files), mode="r:gz") as tar:
        tar.extractall(into, filter="data")  # no absolute paths, no escaping links
    updates = {name: into / name for name in _FIELDS if getattr(job.case, name) is not None}
    return CaseJob(case=job.case.model_copy(update=updates), repeat=job.repeat, models=job.models,
                   live=job.live, overrides=job.overrides)


async def run_packed(packed: PackedCase) -> CaseOutput:
    """The shipped job's body: unpack the case's files on this node, run it, hand back its output."""
    where = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="baton-ray-case-"))
    try:
        return await run_case(await asyncio.to_thread(unpack_job, packed, where))
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, where, True))
