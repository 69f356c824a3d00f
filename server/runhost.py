"""`python -m baton.server.runhost`: the process where the editor's runs execute.

A run is busy Python (the openai SDK building and parsing bodies, hand-off validation, the
trace, the sandbox): in the language server's process it competed with the editor's requests
for the GIL, and p99 latency of a cheap request grew several-fold with 8 runs in flight, even
with the runs on their own thread. Here runs have a process of their own; the server only
speaks LSP and forwards events. A run that crashes this process fails cleanly, and the next
run starts a new one.

The messages are typed (hostwire.py): one JSON object per line each way, the host's first
line a `hello` with the protocol version. The host stops when the server goes: on stdin EOF,
on `shutdown`, on SIGTERM, and (Linux) when its parent dies (PR_SET_PDEATHSIG), even if
something else still holds the pipe open.
Once the hello is out, log records travel to the server as typed `log` messages (secrets
scrubbed), which it passes on as window/logMessage with their level: every editor (not only
VS Code, which reads levels from stderr) sees a warning as a warning. Before that, after the
server is gone, and for anything that is not a log record (a stray print, a crash), stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from baton.pipelines import __version__
from baton.pipelines.config import Settings
from baton.pipelines.models import Plan
from baton.pipelines.redact import redact, register_secret
from baton.pipelines.slots import RunSlots

from .hostwire import (
    PROTOCOL_VERSION,
    TO_HOST,
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

log = logging.getLogger("baton.server.runhost")
PR_SET_PDEATHSIG = 1


class Host:
    """Starts runs on request and streams their events and results to stdout."""

    def __init__(self, out: Any) -> None:
        self.out = out  # the protocol stream (the original stdout, binary)
        self.handles: dict[str, Any] = {}
        self.gates: dict[str, asyncio.Future[Plan]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stores: dict[Path, Any] = {}  # one RunStore (one SQLite connection) per workspace root
        self.stopping = asyncio.Event()
        self.slots = RunSlots()  # the `concurrency` setting: runs past it wait for a slot
        self._write_lock = threading.RLock()  # log records come from worker threads too

    def send(self, message: Any, *, scrub: bool = False) -> None:
        line = encode(message)
        if scrub:  # events carry model text and tool output: scrubbed like the trace
            line = redact(line.decode("utf-8")).encode("utf-8")
        with self._write_lock:  # one whole line at a time
            self.out.write(line)
            self.out.flush()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -------------------------------------------------------------- operations

    async def handle(self, msg: Any) -> None:
        if isinstance(msg, StartRun):
            try:
                await self.start(msg)
            except Exception as e:  # a bad start message or an import error: the run fails, the host lives
                log.exception("could not start run %s", msg.id)
                self.send(RunError(id=msg.id, message=f"{type(e).__name__}: {e}"))
        elif isinstance(msg, CancelRun):
            gate = self.gates.get(msg.id)
            if gate is not None and not gate.done():
                gate.cancel()
            handle = self.handles.get(msg.id)
            if handle is not None:
                handle.cancel(msg.reason or "cancelled from the editor")
        elif isinstance(msg, ReleasePlan):
            gate = self.gates.get(msg.id)
            ok = gate is not None and not gate.done()
            if ok:
                gate.set_result(msg.plan)  # type: ignore[union-attr]
            self.send(Released(id=msg.id, ok=ok))
        elif isinstance(msg, Shutdown):
            self.stopping.set()

    async def store_for(self, root: Path) -> Any:
        """The root's run store; the first time, what a killed Baton left there is settled."""
        from baton.pipelines.recovery import recover
        from baton.pipelines.store import RunStore

        if root not in self.stores:
            store = RunStore(root)
            self.stores[root] = store
            await asyncio.to_thread(recover, store)
        return self.stores[root]

    async def start(self, msg: StartRun) -> None:
        from baton.pipelines.engine import Engine, OverlayDoc

        run_id = msg.id
        module, _, name = msg.pattern.partition(":")
        pattern = getattr(importlib.import_module(module), name)
        register_secret(msg.api_key)
        settings = Settings.model_validate({**msg.settings, "api_key": msg.api_key})
        overlay = {p: OverlayDoc(text, version) for p, (text, version) in msg.overlay.items()}
        root = Path(msg.task.scope.root)

        def forward(ev: Any) -> None:
            self.send(RunEvent(id=run_id, event=ev), scrub=True)

        gate = _Gate(self, run_id) if msg.gate else None
        store = await self.store_for(root)
        handle = Engine(root, settings, store=store, slots=self.slots).start(
            msg.task, pattern, run_id=run_id, subscribers=[forward], gate=gate, overlay=overlay)
        self.handles[run_id] = handle
        self.spawn(self.report(run_id, handle))

    async def report(self, run_id: str, handle: Any) -> None:
        try:
            result = await handle.wait()
        except asyncio.CancelledError:
            return
        except Exception as e:  # the engine records its own failures; this is a bug in it
            log.exception("run %s ended with an exception", run_id)
            self.send(RunError(id=run_id, message=f"{type(e).__name__}: {e}"))
            return
        finally:
            self.handles.pop(run_id, None)  # a finished run holds no memory here
            self.gates.pop(run_id, None)
        self.send(RunEnded(id=run_id, record=result.record, changeset=result.changeset, plan=result.plan,
                           review=result.review, tests=result.tests))

    async def shutdown(self, grace_s: float = 10.0) -> None:
        for handle in list(self.handles.values()):
            handle.cancel("the language server is shutting down")
        pending = [h.task for h in self.handles.values()]
        if pending:
            await asyncio.wait(pending, timeout=grace_s)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_s)


class ToServer(logging.Handler):
    """The host's log records as `log` messages to the server (which shows them in the editor's
    log under their level), instead of stderr lines that an editor files as errors. When the
    pipe is gone (the server died), the record goes to the handlers it replaced (stderr)."""

    def __init__(self, host: Host, fallback: list[logging.Handler]) -> None:
        super().__init__()
        self.host, self.fallback = host, fallback
        self.setFormatter(logging.Formatter("%(message)s"))  # the traceback is appended by format()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = redact(self.format(record))
            self.host.send(HostLog(level=record.levelno, name=record.name, message=text))
        except Exception:
            for handler in self.fallback:
                if record.levelno >= handler.level:
                    handler.handle(record)


@contextlib.contextmanager
def logs_to_server(host: Host) -> Iterator[None]:
    """While it lasts, the root logger's records go to the server instead of stderr."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [ToServer(host, saved)]
    try:
        yield
    finally:
        root.handlers[:] = saved


class _Gate:
    """The plan gate: the run waits here until the server sends the (edited) plan."""

    def __init__(self, host: Host, run_id: str) -> None:
        self.host, self.run_id = host, run_id

    async def review_plan(self, ctx: Any, plan: Plan, plan_path: Path) -> Plan:
        gate: asyncio.Future[Plan] = asyncio.get_running_loop().create_future()
        self.host.gates[self.run_id] = gate
        try:
            return await gate
        finally:
            self.host.gates.pop(self.run_id, None)


def die_with_parent(parent: int) -> bool:
    """Ask Linux to send SIGTERM here when the parent dies (PR_SET_PDEATHSIG); then check it
    is still alive, because it may have died before the request. False when it is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %s); stdin EOF alone ends this host",
                            ctypes.get_errno())
        except (OSError, AttributeError) as e:
            log.warning("prctl is not available (%s); stdin EOF alone ends this host", e)
    return os.getppid() == parent


async def serve(out: Any, watch_parent: bool = False) -> int:
    host = Host(out)
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:  # a plain thread: asyncio pipes on stdin do not work on Windows
        for line in sys.stdin.buffer:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, b"")

    def parent_gone() -> None:
        log.warning("the language server is gone; stopping the runs")
        lines.put_nowait(b"")

    if watch_parent:  # SIGTERM (the parent's death, or the server stopping it): stop the runs cleanly
        try:
            loop.add_signal_handler(signal.SIGTERM, parent_gone)
        except (NotImplementedError, RuntimeError):
            pass
    host.send(Hello(protocol=PROTOCOL_VERSION, pid=os.getpid(), version=__version__))
    with logs_to_server(host):  # after the hello: the server reads nothing before it
        threading.Thread(target=read_stdin, name="runhost-stdin", daemon=True).start()
        while not host.stopping.is_set():
            line = await lines.get()
            if not line:  # the server went away: stop the runs
                break
            try:
                msg = TO_HOST.validate_json(line)
            except ValidationError as e:
                log.warning("runhost: a message it cannot read (%s): %r", e.errors()[0].get("msg"), line[:200])
                continue
            await host.handle(msg)
        await host.shutdown()
    return 0


def main() -> int:
    from .logs import configure_logging

    # The protocol owns the original stdout; anything else that prints (a library, a stray
    # print) goes to stderr instead of corrupting it.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    args = sys.argv[1:]
    parent = None
    if args and args[0].startswith("--parent="):
        parent = int(args.pop(0).partition("=")[2])
    configure_logging(args[0] if args else "INFO")
    if parent is not None and not die_with_parent(parent):  # first: before seconds of imports
        return 0  # the server died while this process was starting
    for target in args[1:]:  # patterns to import now, while the editor is still starting up
        importlib.import_module(target.partition(":")[0])
    return asyncio.run(serve(out, watch_parent=parent is not None))


if __name__ == "__main__":
    sys.exit(main())
