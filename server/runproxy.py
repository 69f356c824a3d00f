"""The server's side of the run host (runhost.py): one child process runs every run, started
at initialize (so the first run does not wait for the openai SDK to import) and again after
it dies. Everything here runs on the server's event loop and never blocks it: the pipes are
asyncio streams, every write is drained, and the messages are typed (hostwire.py).

A finished run is dropped from `RunHost.runs` at once; the server keeps its own bounded list
(runs.py) and the store has the rest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from baton.pipelines.config import Settings
from baton.pipelines.engine import OverlayDoc, RunResult
from baton.pipelines.events import Event, EventType
from baton.pipelines.models import Plan, RunRecord, RunStatus, Task, utcnow

from .hostwire import (
    FROM_HOST,
    PROTOCOL_VERSION,
    CancelRun,
    Hello,
    HostLog,
    Released,
    ReleasePlan,
    RunEnded,
    RunError,
    RunEvent,
    Shutdown,
    StartRun,
    encode,
)
from .logs import relay_host_record

log = logging.getLogger(__name__)

LIMIT = 256 * 1024 * 1024  # a result line carries whole file texts
RELEASE_TIMEOUT_S = 30.0


class RunProxy:
    """A run in the run host as the server sees it: its record (status kept current from the
    events), cancel, release the plan gate, wait for the result."""

    def __init__(self, host: RunHost, run_id: str, record: RunRecord, on_event: Callable[[Event], None]) -> None:
        self.host, self.id, self.record, self.on_event = host, run_id, record, on_event
        self.result: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()

    def done(self) -> bool:
        return self.result.done()

    def cancel(self, reason: str) -> bool:
        """Ask the run to stop; False when it has already ended."""
        if self.done():
            return False
        self.host.send(CancelRun(id=self.id, reason=reason))
        return True

    async def release(self, plan: Plan) -> bool:
        """Hand the (edited) plan to the waiting run; False when it is not waiting any more."""
        return await self.host.release(self.id, plan)

    async def wait(self) -> RunResult:
        return await asyncio.shield(self.result)

    def event(self, ev: Event) -> None:
        if ev.type is EventType.waiting:
            self.record.status = RunStatus.waiting
        elif ev.type in (EventType.run_started, EventType.step_started) and not self.done():
            self.record.status = RunStatus.running
        self.on_event(ev)

    def finish(self, result: RunResult) -> None:
        if not self.done():
            self.record = result.record
            self.result.set_result(result)

    def fail(self, error: str, status: RunStatus = RunStatus.failed) -> None:
        rec = self.record.model_copy(update={"status": status, "error": error, "finished_at": utcnow()})
        self.finish(RunResult(record=rec))


class RunHost:
    """Starts the run host process on demand and routes its messages to the runs.

    `settle` (set by the run manager) is awaited when the process dies with runs in flight:
    it marks them interrupted in the store and removes their sandboxes (recovery.py), and
    answers the records it wrote, which the runs then end with."""

    def __init__(self, log_level: str = "INFO") -> None:
        self.log_level = log_level
        self.preload: list[str] = []
        self.runs: dict[str, RunProxy] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.settle: Callable[[list[RunRecord]], Awaitable[dict[str, RunRecord]]] | None = None
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[bytes] | None = None
        self._released: dict[str, asyncio.Future[bool]] = {}
        self._stopping = False
        self._refused: str | None = None  # why the process was not spoken to (protocol mismatch)

    async def ensure(self) -> None:
        """The process, started if it is not running."""
        async with self._lock:
            if self.proc is not None and self.proc.returncode is None:
                return
            self._stopping, self._refused = False, None
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "baton.server.runhost", f"--parent={os.getpid()}", self.log_level,
                *self.preload, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LIMIT)
            log.info("run host started (pid %s)", self.proc.pid)
            loop = asyncio.get_running_loop()
            self._outbox = asyncio.Queue()
            self._writer = loop.create_task(self._write(self.proc, self._outbox))
            self._reader = loop.create_task(self._read(self.proc))

    def send(self, message: StartRun | CancelRun | ReleasePlan | Shutdown) -> None:
        """Queue a message for the process; the writer task writes and drains in order."""
        if self.proc is None or self.proc.returncode is not None or self._outbox is None:
            return  # it died; its runs have been failed already
        self._outbox.put_nowait(encode(message))

    async def _write(self, proc: asyncio.subprocess.Process, outbox: asyncio.Queue[bytes]) -> None:
        assert proc.stdin is not None
        try:
            while True:
                line = await outbox.get()
                proc.stdin.write(line)
                await proc.stdin.drain()  # a busy host pushes back here, not into unbounded buffers
        except (ConnectionError, RuntimeError):
            return  # the process is gone: the reader fails its runs

    async def start(self, run_id: str, pattern: str, task: Task, settings: Settings,
                    overlay: dict[str, OverlayDoc], gate: bool, on_event: Callable[[Event], None]) -> RunProxy:
        await self.ensure()
        record = RunRecord(id=run_id, pattern=task.pattern, task=task.text, scope=task.scope, status=RunStatus.pending)
        proxy = RunProxy(self, run_id, record, on_event)
        self.runs[run_id] = proxy
        self.send(StartRun(id=run_id, pattern=pattern, task=task, settings=settings.model_dump(mode="json"),
                           api_key=settings.api_key_value(),
                           overlay={p: (d.text, d.version) for p, d in overlay.items()}, gate=gate))
        return proxy

    async def release(self, run_id: str, plan: Plan) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._released[run_id] = answer
        self.send(ReleasePlan(id=run_id, plan=plan))
        try:
            return await asyncio.wait_for(answer, RELEASE_TIMEOUT_S)
        except TimeoutError:
            return False
        finally:
            self._released.pop(run_id, None)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        greeted = False
        try:
            while line := await proc.stdout.readline():
                try:
                    msg = FROM_HOST.validate_json(line)
                except ValidationError as e:
                    log.error("run host: a message the server cannot read (%s): %r",
                              e.errors()[0].get("msg"), line[:200])
                    continue
                if not greeted:
                    greeted = True
                    if not self._check_hello(msg):
                        proc.kill()
                        break
                    continue
                try:
                    self._dispatch(msg)
                except Exception:
                    log.exception("run host: could not handle %r", line[:200])
        finally:
            code = await proc.wait()
            if self._writer is not None:
                self._writer.cancel()
            if not self._stopping and self._refused is None:
                log.warning("the run host exited (code %s); its runs were interrupted, the next run starts a new one",
                            code)
            await self._end_all(code)

    def _check_hello(self, msg: Any) -> bool:
        if isinstance(msg, Hello) and msg.protocol == PROTOCOL_VERSION:
            log.info("run host %s ready (Baton %s, protocol %s)", msg.pid, msg.version, msg.protocol)
            return True
        theirs = f"protocol {msg.protocol} (Baton {msg.version})" if isinstance(msg, Hello) else "no hello"
        self._refused = (f"the run host speaks {theirs}, this language server protocol {PROTOCOL_VERSION}: "
                         "Baton was upgraded while the editor ran; restart the language server")
        log.error("%s", self._refused)
        return False

    async def _end_all(self, code: int) -> None:
        """The process is gone: every run still in flight ends (interrupted, as the store says)."""
        live = [p for p in self.runs.values() if not p.done()]
        settled: dict[str, RunRecord] = {}
        if live and self.settle is not None and self._refused is None:
            try:
                settled = await self.settle([p.record for p in live])
            except Exception:
                log.exception("settling the runs of the dead run host failed")
        for proxy in live:
            if proxy.id in settled:
                proxy.finish(RunResult(record=settled[proxy.id]))
            elif self._refused is not None:
                proxy.fail(f"the run could not start: {self._refused}")
            else:
                proxy.fail(f"the run process exited unexpectedly (exit code {code}); "
                           "see the language server's log", RunStatus.interrupted)
        self.runs.clear()
        for answer in self._released.values():
            if not answer.done():
                answer.set_result(False)

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, HostLog):
            relay_host_record(msg.level, msg.name, msg.message)
            return
        if isinstance(msg, Released):
            answer = self._released.get(msg.id)
            if answer is not None and not answer.done():
                answer.set_result(msg.ok)
            return
        proxy = self.runs.get(getattr(msg, "id", ""))
        if proxy is None:
            return
        if isinstance(msg, RunEvent):
            proxy.event(msg.event)
        elif isinstance(msg, RunEnded):
            proxy.finish(RunResult(record=msg.record, changeset=msg.changeset, plan=msg.plan, review=msg.review,
                                   tests=msg.tests))
            self.runs.pop(msg.id, None)
        elif isinstance(msg, RunError):
            proxy.fail(f"the run could not run: {msg.message}")
            self.runs.pop(msg.id, None)

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Cancel every run, let the host record it (up to `grace_s`), then make sure it is gone."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._stopping = True
        if all(p.done() for p in self.runs.values()):
            proc.terminate()  # nothing to record: no need to wait for it to finish starting up
        else:
            self.send(Shutdown())
        try:
            await asyncio.wait_for(proc.wait(), grace_s + 2)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
