"""The run host's log records travel to the server as typed `log` messages, scrubbed, and not
as stderr lines too (the VS Code extension reads stderr: a record there as well would show
twice). The real host process, spoken to over its pipes like the server does."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from baton.server.hostwire import FROM_HOST, PROTOCOL_VERSION, Hello, HostLog

KEY = "sk-proj-abcdefghijklmnop1234"


def test_a_host_warning_is_a_log_message_on_the_protocol_scrubbed_and_not_on_stderr() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}
    proc = subprocess.Popen([sys.executable, "-m", "baton.server.runhost", "INFO"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        hello = FROM_HOST.validate_json(proc.stdout.readline())
        assert isinstance(hello, Hello) and hello.protocol == PROTOCOL_VERSION
        proc.stdin.write(f'{{"op": "launch", "api_key": "{KEY}"}}\n'.encode())  # no such op: the host warns
        proc.stdin.flush()
        record = FROM_HOST.validate_json(proc.stdout.readline())
        proc.stdin.close()  # EOF: the host stops
        assert proc.wait(timeout=60) == 0
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert isinstance(record, HostLog)
    assert (record.level, record.name) == (logging.WARNING, "baton.server.runhost")
    assert record.message.startswith("runhost: a message it cannot read")
    assert KEY not in record.message and "[REDACTED]" in record.message
    assert "cannot read" not in stderr and KEY not in stderr
    assert proc.stdout.read() == b""  # nothing else was sent
