"""Logging for the server and the run host: stderr with secrets scrubbed, and the editor's
log (window/logMessage) for Baton's own records."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from baton.pipelines.redact import redact

if TYPE_CHECKING:
    from lsprotocol.types import MessageType


class ClientLogHandler(logging.Handler):
    """Forward server log records to the client's output (window/logMessage), secrets scrubbed.

    Records may come from worker threads (asyncio.to_thread); the JSON-RPC writer is not
    thread-safe, so those are handed to the server's loop."""

    def __init__(self, server: Any) -> None:
        super().__init__()  # the loggers' levels decide (--log-level)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        from lsprotocol import types as lsp  # here: the run host imports this module without LSP

        try:
            kind = message_type(record.levelno)
            params = lsp.LogMessageParams(type=kind, message=redact(self.format(record)))
            loop = self.server.loop
            if loop is None or loop.is_closed():
                return
            try:
                on_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                on_loop = False
            if on_loop:
                self.server.window_log_message(params)
            else:
                loop.call_soon_threadsafe(self.server.window_log_message, params)
        except Exception:
            pass


def message_type(levelno: int) -> MessageType:
    """A logging level as window/logMessage's type, so the editor's log shows the same level
    (INFO is Info, not the `[error]` every stderr line gets)."""
    from lsprotocol import types as lsp

    if levelno >= logging.ERROR:
        return lsp.MessageType.Error
    if levelno >= logging.WARNING:
        return lsp.MessageType.Warning
    return lsp.MessageType.Info if levelno >= logging.INFO else lsp.MessageType.Log


class ToClientOnly(logging.Filter):
    """On stderr, drop Baton's records (and the run host's, whatever their logger) once the client
    receives them as window/logMessage: the editor files every stderr line as an error, and each
    record would show twice."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        connected = (self.server.loop is not None and not self.server.loop.is_closed()
                     and not getattr(self.server, "client_gone", False))  # after `exit` / EOF: stderr again
        return not (connected and (record.name.startswith("baton") or getattr(record, "run_host", False)))


# The run host's records enter the server's logging here, so they reach the "baton" logger's
# ClientLogHandler (window/logMessage) whatever their own logger's name (openai, httpx, ...).
HOST_LOGGER = "baton.server.runhost"


def relay_host_record(level: int, name: str, message: str) -> None:
    """Log a record the run host sent (hostwire.HostLog) as if it were the server's own: the
    editor gets it as window/logMessage with the record's level (message_type); stderr only
    while no client is connected. Scrubbed again here: the host's text is not trusted to be."""
    record = logging.makeLogRecord({
        "name": name, "levelno": level, "levelname": logging.getLevelName(level),
        "msg": redact(message), "args": None, "run_host": True,
    })
    logging.getLogger(HOST_LOGGER).handle(record)


class RedactFilter(logging.Filter):
    """Scrub API keys from every record before any handler formats it (stderr included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(log_level: str = "INFO") -> None:
    """Server logs go to stderr, secrets scrubbed. pygls logs every message it sends and the
    initialize params (which carry the API key) at INFO, so it is kept at WARNING unless DEBUG."""
    level = getattr(logging, log_level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    pygls_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in ("pygls", "httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(name).setLevel(max(pygls_level, level))


