"""The server's lifecycle over raw stdio (no LSP client library between the test and the bytes):
it exits on `exit` (0 after `shutdown`, 1 without) and on stdin EOF, with its run host; the run
host goes when the server is killed; malformed frames are skipped and the next request is
answered. Processes are checked by PID (/proc), and every wait is for the condition itself."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from lsp_session import PY, TIMEOUT, server_env
from test_run_host import alive, run_host_pid

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """`python -m baton.server` with the test writing bytes to its stdin and reading frames back."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([PY, "-m", "baton.server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=server_env())
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[bytes] = []
        self.logged: list[str] = []  # window/logMessage texts: Baton's records go there once connected
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        self.next_id = 0
        answer = self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {},
                                             "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                                             "initializationOptions": {"baton": {"maxRetries": 0}}})
        assert "capabilities" in answer["result"], answer
        self.notify("initialized", {})

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line or length is None:
                self.messages.put(None)
                return
            msg = json.loads(out.read(length))
            if msg.get("method") == "window/logMessage":
                self.logged.append(msg["params"]["message"])
            self.messages.put(msg)

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send(frame({"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})}))

    def request(self, method: str, params: Any = None, raw_prefix: bytes = b"") -> dict[str, Any]:
        """Send (after `raw_prefix`, bytes of any kind) and wait for the answer with this id."""
        self.next_id += 1
        rid = self.next_id
        self.send(raw_prefix + frame({"jsonrpc": "2.0", "id": rid, "method": method,
                                      **({"params": params} if params is not None else {})}))
        return self.wait_for(lambda m: m.get("id") == rid and "method" not in m, f"the answer to {method}")

    def wait_for(self, predicate: Any, what: str) -> dict[str, Any]:
        while True:
            try:
                msg = self.messages.get(timeout=TIMEOUT)  # a safety net: the condition is the message
            except queue.Empty:
                raise AssertionError(f"no {what}; server stderr:\n{self.log()}") from None
            if msg is None:
                raise AssertionError(f"the server closed stdout before {what}; stderr:\n{self.log()}")
            if predicate(msg):
                return msg

    def run_host(self) -> int:
        """The run host's pid, once the server has started it (it does at `initialized`)."""
        deadline = time.monotonic() + TIMEOUT
        while (pid := run_host_pid(self.proc.pid)) is None:
            assert time.monotonic() < deadline and self.proc.poll() is None, f"no run host; stderr:\n{self.log()}"
            time.sleep(0.02)
        return pid

    def exit_code(self) -> int:
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit; stderr:\n{self.log()}") from None

    def log(self) -> str:
        """stderr and the window/logMessage texts (all of them once the server has exited)."""
        if self.proc.poll() is not None:
            self.reader.join(TIMEOUT)
        return (b"".join(self.stderr).decode(errors="replace") + "\n".join(self.logged))[-8000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def gone(pid: int) -> bool:
    """Wait until `pid` is gone (a zombie counts as gone); False if it is still there after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    started: list[RawServer] = []

    def start() -> RawServer:
        s = RawServer(root)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


@pytest.mark.parametrize(("ending", "code"), [("shutdown+exit", 0), ("exit", 1), ("eof", 1)])
def test_the_server_exits_with_its_run_host(server, ending: str, code: int) -> None:
    s = server()
    host = s.run_host()
    if ending.startswith("shutdown"):
        assert s.request("shutdown")["result"] is None
    if ending.endswith("exit"):
        s.notify("exit")
    else:
        assert s.proc.stdin is not None
        s.proc.stdin.close()
    assert s.exit_code() == code, s.log()
    assert not alive(s.proc.pid) and gone(host)
    assert "Traceback" not in s.log()


def test_the_run_host_goes_when_the_server_is_killed(server) -> None:
    s = server()
    host = s.run_host()
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait()
    assert gone(host), "the run host outlived its server"


def test_malformed_frames_are_skipped_and_the_next_request_answered(server) -> None:
    s = server()
    ask = ("workspace/executeCommand", {"command": "baton.listRuns", "arguments": [{}]})
    garbage = b"\x00\xffnot a header at all\r\n\r\n"
    assert s.request(*ask, raw_prefix=garbage)["result"] == {"runs": []}
    non_numeric = b"Content-Length: twelve\r\n\r\n{}"
    assert s.request(*ask, raw_prefix=non_numeric)["result"] == {"runs": []}
    too_long = b"Content-Length: 4096\r\n\r\n{\"jsonrpc\": \"2.0\", \"method\": \"initialized\""
    assert s.request(*ask, raw_prefix=too_long)["result"] == {"runs": []}
    no_colon = b"Content-Length 10\r\n\r\n0123456789"
    assert s.request(*ask, raw_prefix=no_colon)["result"] == {"runs": []}
    # a well-framed body that is not JSON: a parse error (id null), then the next request as usual
    not_json = b"Content-Length: 9\r\n\r\n{not json"
    assert s.request(*ask, raw_prefix=not_json)["result"] == {"runs": []}
    assert s.request("shutdown")["result"] is None
    s.notify("exit")
    assert s.exit_code() == 0
    log = s.log()
    for reason in ("byte(s) that are not an LSP header", "Content-Length 'twelve' is not a number",
                   "Content-Length 4096 is longer than the message", "a header line without a colon",
                   "not valid JSON-RPC"):
        assert reason in log, (reason, log)


def test_a_parse_error_is_answered_with_a_null_id(server) -> None:
    s = server()
    s.send(b"Content-Length: 9\r\n\r\n{not json")
    error = s.wait_for(lambda m: "error" in m, "the parse error")
    assert error["id"] is None and error["error"]["code"] == -32700
