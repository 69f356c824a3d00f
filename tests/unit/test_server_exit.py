"""The language server ends when its editor goes, even if a thread is stuck: once the runs are
stopped, an exit watchdog ends the process (asyncio.run's teardown and the interpreter would
otherwise wait for every thread). And after `exit`, Baton's records go to stderr again: the
client can no longer receive them as window/logMessage, so dropping them would hide why."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

from baton.server.logs import ToClientOnly
from baton.server.server import create_server

STUCK = """
import threading, time
from baton.server.stdio import arm_exit_watchdog

stuck = threading.Event()
threading.Thread(target=stuck.wait, name="stuck", daemon=False).start()  # never set: keeps the process alive
print("armed", flush=True)
arm_exit_watchdog(3, 0.5)
"""


def test_a_thread_stuck_at_exit_does_not_keep_the_process_alive() -> None:
    done = subprocess.run([sys.executable, "-c", STUCK], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "armed"
    assert done.returncode == 3, done.stderr
    assert "ending it now (exit code 3)" in done.stderr


def test_without_a_stuck_thread_the_process_ends_at_once_with_its_own_code() -> None:
    quick = "from baton.server.stdio import arm_exit_watchdog\narm_exit_watchdog(3, 60)\n"
    done = subprocess.run([sys.executable, "-c", quick], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "ending it now" not in done.stderr  # the daemon timer held nothing


async def test_records_reach_stderr_again_once_the_client_is_gone() -> None:
    server = create_server()
    server.loop = asyncio.get_running_loop()  # what initialize sets: a connected client
    only = ToClientOnly(server)
    record = logging.makeLogRecord({"name": "baton.server", "levelno": logging.WARNING, "msg": "the run host…"})
    assert not only.filter(record)  # the client gets it as window/logMessage
    server.client_gone = True  # what the stdio loop sets on `exit` or EOF
    assert only.filter(record)
