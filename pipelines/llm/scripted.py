"""A real OpenAI-compatible HTTP server that answers from a script, with fault injection.

Tests, the demo and benchmarks talk to it over real HTTP with the stock `openai` client, so
retries, timeouts, streaming and malformed bodies are exercised exactly as in production.
It runs in a background thread (stdlib `ThreadingHTTPServer`, no dependencies) or as
`baton scripted-llm --script FILE`.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from . import scripted_wire as wire
from .script import FALLBACK_MODEL, Script, ScriptedReply, ScriptError, load_script, parse_script
from .scripted_http import Handler, NoReply, RecordedRequest, ScriptedHTTPServer

__all__ = ["ScriptedLLM", "RecordedRequest", "Script", "ScriptError", "load_script", "parse_script",
           "scripted_llm", "scripted_llm_arguments"]


class ScriptedLLM:
    """`with ScriptedLLM(script) as url:` → an OpenAI-compatible base URL ending in /v1."""

    def __init__(self, script: Script | dict[str, Any] | str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(script, (str, Path)):
            script = load_script(script)
        self.script = parse_script(script)
        self.host, self.port = host, port
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[tuple[int, ScriptedReply]]] = {
            name: deque(enumerate(replies)) for name, replies in self.script.models.items()
        }
        self._last_prompt: dict[str, str] = {}
        self._lock = threading.Lock()
        self._calls = 0
        self._ids = 0
        self.in_flight = 0  # chat/responses requests being answered right now
        self.peak_in_flight = 0
        self.stopping = threading.Event()
        self._httpd: ScriptedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        if self._httpd is not None:
            return self.url
        self.stopping.clear()
        httpd = ScriptedHTTPServer((self.host, self.port), Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"scripted-llm:{self.port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving; hanging or delayed answers are released so no thread is left behind."""
        if self._httpd is None:
            return
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model_names(self) -> list[str]:
        return [m for m in self.script.models if m != FALLBACK_MODEL]

    def remaining(self, model: str) -> int:
        with self._lock:
            q = self._queues.get(model)
            return len(q) if q is not None else 0

    def wait_for(self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0) -> bool:
        """Poll the recorded requests until `predicate` holds (for tests; generous timeouts only)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                snapshot = list(self.requests)
            if predicate(snapshot):
                return True
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------------ used by the handler

    def record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def wait_in_flight(self, count: int, timeout: float = 30.0) -> bool:
        """Block this request's thread until `count` requests have been in flight at once (or the
        server stops). The peak, not the current count: every waiter sees the moment it was reached."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.stopping.is_set():
            with self._lock:
                if self.peak_in_flight >= count:
                    return True
            time.sleep(0.01)
        return False

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def take(self, model: str, haystack: str = "") -> tuple[int, ScriptedReply] | NoReply:
        """The next reply for `model` (or the `*` fallback), or why there is none. A reply with
        `when` is taken by the first request that contains all its substrings; one without, in turn."""
        with self._lock:
            key = model if model in self._queues else FALLBACK_MODEL
            q = self._queues.get(key)
            if q is None:
                known = ", ".join(self.model_names) or "(none)"
                return NoReply(404, "model_not_found",
                                f"unknown model '{model}': the script has no replies for it; scripted models: {known}")
            if not q:
                total = len(self.script.models[key])
                which = f"model '{model}'" if key == model else f"the '*' fallback (asked for '{model}')"
                return NoReply(400, "script_exhausted",
                                f"the script for {which} has run out: all {total} scripted replies were used; "
                                "add replies to the script or check for unexpected extra calls")
            for pos, (index, reply) in enumerate(q):
                if all(w in haystack for w in reply.when):
                    del q[pos]
                    return index, reply
            waiting = "; ".join(" & ".join(repr(w) for w in r.when) for _, r in q)
            return NoReply(400, "no_matching_reply",
                           f"no scripted reply for model '{model}' matches this request; the replies left wait "
                           f"for requests containing: {waiting}")

    def prompt_usage(self, model: str, body: dict[str, Any], reply: ScriptedReply) -> wire.ReplyUsage:
        prompt = wire.prompt_text(body)
        with self._lock:
            previous = self._last_prompt.get(model)
            self._last_prompt[model] = prompt
        return wire.ReplyUsage.compute(prompt, previous, reply)

    def next_ids(self, reply: ScriptedReply) -> tuple[int, list[str]]:
        with self._lock:
            self._calls += 1
            first = self._ids + 1
            self._ids += len(reply.tool_calls)
            return self._calls, wire.call_ids(reply, first)


# ---------------------------------------------------------------------------- CLI


def scripted_llm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script", required=True, metavar="FILE",
                        help='JSON script: {"models": {"model-name": [reply, ...]}}')
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")


def scripted_llm(args: argparse.Namespace) -> int:
    """Serve the script until SIGINT/SIGTERM."""
    from ..errors import UsageError

    try:
        script = load_script(args.script)
    except ScriptError as e:
        raise UsageError(str(e)) from None
    server = ScriptedLLM(script, host=args.host, port=args.port)
    try:
        url = server.start()
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}; pick another --port") from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    models = ", ".join(server.script.models)
    print(f"Scripted OpenAI-compatible server on {url} (models: {models})", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"scripted-llm: stopped after {len(server.requests)} requests", flush=True)
    return 0
