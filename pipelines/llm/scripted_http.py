"""HTTP side of the scripted server: routing, faults and writing bodies, one thread per request.

Kept apart from `scripted.py` (script state, lifecycle, CLI) so each stays small; the handler
reaches the state through `server.owner`.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import scripted_wire as wire
from .script import Fault, ScriptedReply

if TYPE_CHECKING:
    from .scripted import ScriptedLLM

log = logging.getLogger("baton.pipelines.llm.scripted")

_TRUNCATED_FILLER = "this answer is cut off before it ends"


@dataclass
class RecordedRequest:
    """One request as the server saw it (Authorization header removed), and what it answered."""

    method: str
    path: str  # as sent, e.g. /v1/chat/completions
    route: str  # without the /v1 prefix and query: /chat/completions, /responses, /models
    model: str | None
    body: Any
    headers: dict[str, str]
    outcome: str = "pending"
    reply_index: int | None = None
    received_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class NoReply:
    """Why a model has no scripted reply: an OpenAI-style error status, code and message."""

    status: int
    code: str
    message: str


class ScriptedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # parallel agents connect at once; the default backlog of 5 resets them
    owner: ScriptedLLM


class Handler(BaseHTTPRequestHandler):
    """One request: route, take the next scripted reply, apply its fault, write the answer."""

    server: ScriptedHTTPServer
    server_version = "BatonScriptedLLM/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("scripted-llm %s " + format, self.address_string(), *args)

    @property
    def owner(self) -> ScriptedLLM:
        return self.server.owner

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path.removeprefix("/v1") or "/"

    # ------------------------------------------------------------------ GET

    def do_GET(self) -> None:
        route = self._route()
        rec = RecordedRequest("GET", self.path, route, None, None, self._headers())
        self.owner.record(rec)
        if route == "/models":
            self._json(200, wire.models_body(self.owner.model_names), rec)
        else:
            self._error(404, f"no such endpoint: GET {self.path} (try GET /v1/models)", "invalid_request_error", rec)

    # ------------------------------------------------------------------ POST

    def do_POST(self) -> None:
        route = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        problem: str | None = None
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError as e:
            body = None
            problem = f"the request body is not valid JSON ({e.msg} at char {e.pos})"
        else:
            if not isinstance(body, dict):
                problem = "the request body must be a JSON object"
        model = body.get("model") if isinstance(body, dict) else None
        rec = RecordedRequest("POST", self.path, route, model if isinstance(model, str) else None, body,
                              self._headers())
        self.owner.record(rec)
        if route not in ("/chat/completions", "/responses"):
            self._error(404, f"no such endpoint: POST {self.path} (scripted: /v1/chat/completions, /v1/responses)",
                        "invalid_request_error", rec)
            return
        if problem:
            self._error(400, problem, "invalid_request_error", rec)
            return
        if not isinstance(model, str) or not model:
            self._error(400, "the request has no `model`", "invalid_request_error", rec)
            return
        if route == "/responses" and body.get("stream"):
            self._error(400, "the scripted server does not stream /v1/responses; call it without stream",
                        "invalid_request_error", rec)
            return
        self.owner.enter()
        try:
            taken = self.owner.take(model, wire.request_strings(body))
            if isinstance(taken, NoReply):
                self._error(taken.status, taken.message, "invalid_request_error", rec, code=taken.code)
                return
            index, reply = taken
            rec.reply_index = index
            self._answer(route, model, body, index, reply, rec)
        finally:
            self.owner.leave()

    def _answer(self, route: str, model: str, body: dict[str, Any], index: int, reply: ScriptedReply,
                rec: RecordedRequest) -> None:
        haystack = wire.request_strings(body)
        for needle in reply.expect:
            if needle not in haystack:
                self._error(400, f"scripted reply #{index} for model '{model}' expected the request to contain "
                                 f"{needle!r}, but it does not (the conversation drifted from the script)",
                            "expectation_failed", rec, code="expectation_failed")
                return
        fault = reply.fault
        if fault is not None and fault.gather and not self.owner.wait_in_flight(fault.gather):
            self._error(503, f"scripted reply #{index} for model '{model}' waited for {fault.gather} requests in "
                             "flight at once, and they never were", "server_error", rec, code="gather_timeout")
            return
        if fault is not None and fault.delay:
            if self.owner.stopping.wait(fault.delay):
                self._drop(rec, "server-stopped")
                return
        if fault is not None and fault.terminal:
            self._fault(fault, rec)
            return
        if fault is not None and fault.truncate and not reply.has_message:
            reply = reply.model_copy(update={"content": _TRUNCATED_FILLER})
        usage = self.owner.prompt_usage(model, body, reply)
        n, ids = self.owner.next_ids(reply)
        truncate = fault is not None and fault.truncate
        if route == "/responses":
            self._json(200, wire.responses_body(model, reply, ids, usage, n), rec, truncate=truncate)
        elif body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._sse(wire.chat_chunks(model, reply, ids, usage, n, include_usage), rec, truncate=truncate)
        else:
            self._json(200, wire.chat_completion(model, reply, ids, usage, n), rec, truncate=truncate)

    def _fault(self, fault: Fault, rec: RecordedRequest) -> None:
        if fault.status is not None:
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            body = fault.body if fault.body is not None else wire.error_body(
                f"scripted fault: HTTP {fault.status}", "rate_limit_error" if fault.status == 429 else "server_error")
            self._json(fault.status, body, rec, headers=headers, outcome=f"fault:status {fault.status}")
        elif fault.hang:
            self._hang(rec)
        elif fault.malformed:
            self._raw(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": ', "application/json",
                      rec, "fault:malformed")
        elif fault.drop:
            self._drop(rec, "fault:drop")

    # ------------------------------------------------------------------ writing

    def _headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "api-key")}

    def _error(self, status: int, message: str, type_: str, rec: RecordedRequest, code: str | None = None) -> None:
        self._json(status, wire.error_body(message, type_, code), rec, outcome=f"error {status}")

    def _json(self, status: int, body: Any, rec: RecordedRequest, *, headers: dict[str, str] | None = None,
              truncate: bool = False, outcome: str | None = None) -> None:
        data = json.dumps(body).encode()
        if truncate:
            self._raw(status, data, "application/json", rec, "fault:truncate", cut=len(data) // 2)
        else:
            self._raw(status, data, "application/json", rec, outcome or "answered", headers=headers)

    def _raw(self, status: int, data: bytes, content_type: str, rec: RecordedRequest, outcome: str, *,
             headers: dict[str, str] | None = None, cut: int | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data if cut is None else data[:cut])
            self.wfile.flush()
            rec.outcome = outcome
        except OSError:
            rec.outcome = "client-disconnected"
        if cut is not None:
            self._close_now()

    def _sse(self, chunks: list[dict[str, Any]], rec: RecordedRequest, *, truncate: bool) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            sent = chunks[: max(1, len(chunks) // 2)] if truncate else chunks
            for c in sent:
                self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                self.wfile.flush()
            if not truncate:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            rec.outcome = "fault:truncate" if truncate else "answered"
        except OSError:
            rec.outcome = "client-disconnected"
        if truncate:
            self._close_now()

    def _hang(self, rec: RecordedRequest) -> None:
        """Answer nothing until the client disconnects (or the server stops): a realistic stuck upstream."""
        rec.outcome = "hanging"
        sock = self.connection
        while not self.owner.stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    rec.outcome = "client-disconnected"
                    return
                if readable:
                    time.sleep(0.05)  # the client sent more bytes; keep hanging
            except OSError:
                rec.outcome = "client-disconnected"
                return
        self._drop(rec, "server-stopped")

    def _drop(self, rec: RecordedRequest, outcome: str) -> None:
        rec.outcome = outcome
        self._close_now()

    def _close_now(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
