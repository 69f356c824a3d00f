"""`python -m baton.server.runhost`: the process where the editor's runs execute.

A run is busy Python (the openai SDK building and parsing bodies, hand-off validation, the
trace, the sandbox): in the language server's process it competed with the editor's requests
for the GIL, and p99 latency of a cheap request grew several-fold with 8 runs in flight, even
with the runs on their own thread. Here runs have a process of their own; the server only
speaks LSP and forwards events. A run that crashes this process fails cleanly, and the next
run starts a new one.

The protocol is one JSON object per line. The server sends
  {"op": "start", "id", "pattern": "module:function", "task", "settings", "api_key", "overlay", "gate"}
  {"op": "cancel", "id", "reason"}      {"op": "release", "id", "plan"}      {"op": "shutdown"}
and this process answers
  {"kind": "event", "id", "event"}      {"kind": "result", "id", "result"}
  {"kind": "released", "id", "ok"}      {"kind": "error", "id", "message"}
Logs go to stderr (secrets scrubbed), which the server passes on to the editor's log.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from baton.pipelines.config import Settings
from baton.pipelines.models import Plan, Task
from baton.pipelines.redact import register_secret
from baton.pipelines.slots import RunSlots

log = logging.getLogger("baton.server.runhost")


class Host:
    """Starts runs on request and streams their events and results to stdout."""

    def __init__(self, out: Any) -> None:
        self.out = out  # the protocol stream (the original stdout)
        self.handles: dict[str, Any] = {}
        self.gates: dict[str, asyncio.Future[Plan]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stores: dict[Path, Any] = {}  # one RunStore (one SQLite connection) per workspace root
        self.stopping = asyncio.Event()
        self.slots = RunSlots()  # the `concurrency` setting: runs past it wait for a slot

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self.out.flush()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -------------------------------------------------------------- operations

    async def handle(self, msg: dict[str, Any]) -> None:
        op, run_id = msg.get("op"), msg.get("id", "")
        if op == "start":
            try:
                self.start(msg)
            except Exception as e:  # a bad start message or an import error: the run fails, the host lives
                log.exception("could not start run %s", run_id)
                self.send({"kind": "error", "id": run_id, "message": f"{type(e).__name__}: {e}"})
        elif op == "cancel":
            gate = self.gates.get(run_id)
            if gate is not None and not gate.done():
                gate.cancel()
            handle = self.handles.get(run_id)
            if handle is not None:
                handle.cancel(msg.get("reason") or "cancelled from the editor")
        elif op == "release":
            gate = self.gates.get(run_id)
            ok = gate is not None and not gate.done()
            if ok:
                gate.set_result(Plan.model_validate(msg["plan"]))  # type: ignore[union-attr]
            self.send({"kind": "released", "id": run_id, "ok": ok})
        elif op == "shutdown":
            self.stopping.set()
        else:
            log.warning("runhost: unknown message %r", op)

    def start(self, msg: dict[str, Any]) -> None:
        from baton.pipelines.engine import Engine, OverlayDoc
        from baton.pipelines.store import RunStore

        run_id = msg["id"]
        module, _, name = msg["pattern"].partition(":")
        pattern = getattr(importlib.import_module(module), name)
        settings_data = dict(msg["settings"])
        settings_data["api_key"] = msg.get("api_key")
        register_secret(msg.get("api_key"))
        settings = Settings.model_validate(settings_data)
        task = Task.model_validate(msg["task"])
        overlay = {p: OverlayDoc(text, version) for p, (text, version) in msg.get("overlay", {}).items()}
        root = Path(task.scope.root)

        def forward(ev: Any) -> None:
            self.send({"kind": "event", "id": run_id, "event": json.loads(ev.to_json_line())})

        gate = _Gate(self, run_id) if msg.get("gate") else None
        if root not in self.stores:
            self.stores[root] = RunStore(root)
        store = self.stores[root]
        handle = Engine(root, settings, store=store, slots=self.slots).start(
            task, pattern, run_id=run_id, subscribers=[forward], gate=gate, overlay=overlay)
        self.handles[run_id] = handle
        self.spawn(self.report(run_id, handle))

    async def report(self, run_id: str, handle: Any) -> None:
        try:
            result = await handle.wait()
        except asyncio.CancelledError:
            return
        except Exception as e:  # the engine records its own failures; this is a bug in it
            log.exception("run %s ended with an exception", run_id)
            self.send({"kind": "error", "id": run_id, "message": f"{type(e).__name__}: {e}"})
            return
        finally:
            self.handles.pop(run_id, None)
            self.gates.pop(run_id, None)
        dump = {k: (v.model_dump(mode="json") if v is not None else None) for k, v in (
            ("record", result.record), ("changeset", result.changeset), ("plan", result.plan),
            ("review", result.review), ("tests", result.tests))}
        self.send({"kind": "result", "id": run_id, "result": dump})

    async def shutdown(self, grace_s: float = 10.0) -> None:
        for handle in list(self.handles.values()):
            handle.cancel("the language server is shutting down")
        pending = [h.task for h in self.handles.values()]
        if pending:
            await asyncio.wait(pending, timeout=grace_s)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_s)


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


async def serve(out: Any) -> int:
    host = Host(out)
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:  # a plain thread: asyncio pipes on stdin do not work on Windows
        for line in sys.stdin.buffer:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, b"")

    threading.Thread(target=read_stdin, name="runhost-stdin", daemon=True).start()
    while not host.stopping.is_set():
        line = await lines.get()
        if not line:  # the server went away: stop the runs
            break
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            log.warning("runhost: a line that is not JSON: %r", line[:200])
            continue
        await host.handle(msg)
    await host.shutdown()
    return 0


def main() -> int:
    from .logs import configure_logging

    # The protocol owns the original stdout; anything else that prints (a library, a stray
    # print) goes to stderr instead of corrupting it.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    configure_logging(sys.argv[1] if len(sys.argv) > 1 else "INFO")
    for target in sys.argv[2:]:  # patterns to import now, while the editor is still starting up
        importlib.import_module(target.partition(":")[0])
    return asyncio.run(serve(out))


if __name__ == "__main__":
    sys.exit(main())
