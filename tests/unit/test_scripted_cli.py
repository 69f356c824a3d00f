"""`baton scripted-llm` as a real subprocess, queried with the stock client, then stopped by signal."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

# The installed console script, as a user runs it (`python -m baton.pipelines.cli` would load the
# dispatcher twice, as __main__ and as baton.pipelines.cli, with two distinct UsageError classes).
BATON = [str(Path(sys.executable).with_name("baton"))]


def start(script: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*BATON, "scripted-llm", "--script", str(script), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_the_script_until_a_signal(tmp_path, sig):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"models": {"planner-x": [
        {"content": "from the subprocess", "tool_calls": [{"name": "submit_plan", "arguments": {"summary": "s"}}]}
    ]}}))
    proc = start(script, "--port", "0")
    try:
        line = proc.stdout.readline()
        m = re.match(r"Scripted OpenAI-compatible server on (http://127\.0\.0\.1:\d+/v1) \(models: planner-x\)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        client = OpenAI(base_url=m.group(1), api_key="x", max_retries=0, timeout=10)
        r = client.chat.completions.create(model="planner-x", messages=[{"role": "user", "content": "go"}])
        assert r.choices[0].message.content == "from the subprocess"
        assert r.choices[0].message.tool_calls[0].function.name == "submit_plan"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped after 1 requests" in out


def test_cli_bad_script_exits_2_with_the_error_and_serves_nothing(tmp_path):
    script = tmp_path / "bad.json"
    script.write_text(json.dumps({"models": {"m": [{"fault": {"status": 429}, "content": "x"}]}}))
    proc = subprocess.run([*BATON, "scripted-llm", "--script", str(script)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "bad.json: models.m[0]" in proc.stderr and "move the message" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_cli_port_in_use_exits_2(tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"models": {"m": [{"content": "x"}]}}))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*BATON, "scripted-llm", "--script", str(script), "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and proc.stdout == ""
