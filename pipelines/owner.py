"""Which process owns a run or a sandbox, and whether that process is still alive.

A pid alone is not an identity: after a crash the number can be handed to an unrelated
process, which would make a dead run look alive forever. So an owner is the pid, the host
name and the process's start time (Linux: `starttime` from /proc/<pid>/stat, in clock ticks
since boot, which never changes for the life of a process and differs for a reused pid).
"""

from __future__ import annotations

import errno
import os
import socket
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ProcessOwner(BaseModel):
    """The process that runs (or ran) something; compared by pid, host and start time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    host: str
    start_ticks: int | None = None  # /proc/<pid>/stat starttime; None where the OS does not say

    def is_alive(self) -> bool:
        """True unless this owner is certainly gone. An owner on another host (a workspace on a
        shared disk) cannot be checked from here and counts as alive."""
        if self.host != _hostname():
            return True
        if not pid_exists(self.pid):
            return False
        if self.start_ticks is None:
            return True
        now = process_start_ticks(self.pid)
        return now is None or now == self.start_ticks

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


@cache
def current_owner() -> ProcessOwner:
    """This process (cached: pid, host and start time do not change; a fork gets a new pid, so
    the cache is keyed on nothing and checked below)."""
    return _owner_of(os.getpid())


def this_process() -> ProcessOwner:
    """This process as an owner; correct after os.fork() too."""
    owner = current_owner()
    if owner.pid != os.getpid():
        current_owner.cache_clear()
        owner = current_owner()
    return owner


def _owner_of(pid: int) -> ProcessOwner:
    return ProcessOwner(pid=pid, host=_hostname(), start_ticks=process_start_ticks(pid))


@cache
def _hostname() -> str:
    return socket.gethostname()


def pid_exists(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        if e.errno == errno.ESRCH:
            return False
        if e.errno != errno.EPERM:  # EPERM: it exists but belongs to another user
            raise
    return _proc_state(pid) != "Z"


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); None off Linux or
    when the process is gone."""
    stat = _proc_stat(pid)
    if stat is None:
        return None
    try:
        return int(stat[19])  # fields after the command: state is [0], starttime is [19]
    except (IndexError, ValueError):
        return None


def _proc_state(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[0] if stat else None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after `(comm)` (comm may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    _, _, rest = text.rpartition(")")
    return rest.split() or None
