"""The server's stdio loop, in place of pygls's `start_io`: it ends when the editor goes.

pygls 2.1 leaves the process alive when its client goes away: on `exit` its SystemExit is
swallowed (exit code 0 either way) and `shutdown()` then waits for the thread pool whose
thread is still blocked reading stdin; on EOF `asyncio.run` waits for the run host's tasks.
Here:

- stdin is read by a daemon thread (os.read: bytes as they arrive), framed by framing.py, so
  a malformed frame is logged and skipped and the next message is answered;
- `exit` ends the process with 0 after `shutdown` and 1 without (the LSP rule); stdin EOF
  (the editor closed the pipe or died) ends it the same way;
- either way the runs are cancelled and recorded, and the run host is stopped first;
- the process entry (`run_server`) arms an exit watchdog then: asyncio.run's teardown waits for
  every executor thread and the interpreter for every non-daemon thread, so one stuck in a
  blocking call would keep alive a server whose editor is gone (seen once under load: no exit
  within 60 s of `exit`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from pygls.io_ import StdoutWriter

from .framing import Frame, FrameReader

if TYPE_CHECKING:
    from .server import BatonServer

log = logging.getLogger("baton.server")
READ_CHUNK = 64 * 1024
EXIT_GRACE_S = 5.0  # how long runs get to record their cancellation when the editor goes
EXIT_WATCHDOG_S = 10.0  # after that, how long the process may take to end before it is ended


def serve_stdio(server: BatonServer, stdin_fd: int | None = None, stdout: Any = None, *,
                exit_watchdog_s: float | None = None) -> int:
    """Serve LSP on stdin/stdout until `exit` or EOF; returns the process exit code.
    `exit_watchdog_s`: once the runs are stopped, end the process (os._exit) if it has not ended
    by then (for the process entry only: in-process callers leave it None)."""
    writer = StdoutWriter(stdout or sys.stdout.buffer)
    server.protocol.set_writer(writer)
    fd = sys.stdin.buffer.fileno() if stdin_fd is None else stdin_fd
    try:
        return asyncio.run(_serve(server, fd, exit_watchdog_s))
    except KeyboardInterrupt:
        return 1


async def _serve(server: BatonServer, fd: int, exit_watchdog_s: float | None = None) -> int:
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def read_stdin() -> None:  # a daemon thread: it never keeps the process alive
        while True:
            try:
                data = os.read(fd, READ_CHUNK)
            except OSError as e:
                log.warning("reading stdin failed (%s); stopping", e)
                data = b""
            loop.call_soon_threadsafe(chunks.put_nowait, data)
            if not data:
                return

    threading.Thread(target=read_stdin, name="lsp-stdin", daemon=True).start()
    frames = FrameReader()
    code: int | None = None
    while code is None:
        data = await chunks.get()
        if not data:
            if frames.pending():
                log.warning("stdin ended in the middle of a message (%s byte(s) unread)", frames.pending())
            log.info("the client closed stdin; stopping")
            break
        for item in frames.feed(data):
            if isinstance(item, Frame):
                code = _handle(server, item.body)
                if code is not None:
                    break
            else:
                log.warning("malformed LSP input skipped: %s (%d byte(s)); reading on from the next header",
                            item.reason, item.skipped)
    shut_down = bool(getattr(server.protocol, "_shutdown", False))
    if code is None:
        code = 0 if shut_down else 1
    server.client_gone = True  # type: ignore[attr-defined]  # stderr takes Baton's records again
    _detach_client_log()  # the client is gone (or its stdout closed by `exit`): log to stderr only
    await _stop(server)
    if exit_watchdog_s is not None:
        arm_exit_watchdog(code, exit_watchdog_s)
    return code


def arm_exit_watchdog(code: int, seconds: float) -> threading.Timer:
    """End the process with `code` in `seconds` unless it has ended by itself (a daemon timer, so
    it never keeps the process alive; it still fires while the interpreter joins other threads)."""
    def fire() -> None:
        log.warning("the server had not ended %gs after its editor went; ending it now (exit code %d)",
                    seconds, code)
        for stream in (sys.stderr, sys.stdout):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - closed by `exit`, or the reader is gone
                pass
        os._exit(code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.name = "baton-exit-watchdog"
    timer.start()
    return timer


def _handle(server: BatonServer, body: bytes) -> int | None:
    """Hand one message to pygls; the exit code when it was `exit`."""
    protocol = server.protocol
    try:
        message = json.loads(body, object_hook=protocol.structure_message)
    except Exception as e:  # not JSON (or not JSON-RPC): the LSP answer is a parse error
        log.warning("a message that is not valid JSON-RPC was skipped: %s", e)
        protocol._send_data({"jsonrpc": "2.0", "id": None,
                             "error": {"code": -32700, "message": f"Parse error: {str(e)[:200]}"}})
        return None
    try:
        protocol.handle_message(message)
    except SystemExit as e:  # pygls's `exit` handler: 0 after shutdown, 1 without
        return e.code if isinstance(e.code, int) else 1
    except Exception as e:
        log.exception("could not handle a message")
        server.report_server_error(e, type(e))  # type: ignore[arg-type]
    return None


def _detach_client_log() -> None:
    from .logs import ClientLogHandler

    logger = logging.getLogger("baton")
    for handler in list(logger.handlers):
        if isinstance(handler, ClientLogHandler):
            logger.removeHandler(handler)


async def _stop(server: BatonServer) -> None:
    """Cancel the runs (they record it), stop the run host, never wait forever."""
    try:
        await asyncio.wait_for(server.runs.shutdown(grace_s=EXIT_GRACE_S), EXIT_GRACE_S + 10)
    except TimeoutError:
        log.warning("the run host did not stop in time; it was killed")
    except Exception:
        log.exception("stopping the runs failed")
