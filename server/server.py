"""The Baton language server: lifecycle, configuration and document tracking, wired to the
run manager and the commands. Pipeline logic stays in baton.pipelines."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from baton.pipelines import __version__
from baton.pipelines.config import Settings
from baton.pipelines.redact import redact

from . import commands
from .options import clean_options, settings_for
from .progress import supports_show_document
from .review import DISMISS_COMMAND
from .runs import RunManager

log = logging.getLogger("baton.server")


class BatonServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("baton", __version__)
        self.options: dict[str, Any] = {}
        self.runs = RunManager(self)
        self._warned: set[str] = set()

    # -------------------------------------------------------------- settings

    def settings_for(self, root: Path) -> tuple[Settings, list[str]]:
        return settings_for(root, self.options)

    def needs_confirmation(self, root: Path) -> bool:
        try:
            return self.settings_for(root)[0].needs_confirmation
        except Exception:
            return True

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=message))

    def workspace_roots(self) -> list[Path]:
        folders = [Path(to_fs_path(f.uri)).resolve() for f in self.workspace.folders.values()] if self.workspace.folders else []
        if not folders and self.workspace.root_path:
            folders = [Path(self.workspace.root_path).resolve()]
        return folders

    async def show_document(self, uri: str) -> None:
        if supports_show_document(self):
            await self.window_show_document_async(lsp.ShowDocumentParams(uri=uri, take_focus=True))
        else:
            self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Info,
                                                           message=f"Baton: {to_fs_path(uri)}"))


class _ClientLogHandler(logging.Handler):
    """Forward server log records to the client's output (window/logMessage), secrets scrubbed."""

    def __init__(self, server: BatonServer) -> None:
        super().__init__(logging.INFO)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = lsp.MessageType.Error if record.levelno >= logging.ERROR else (
                lsp.MessageType.Warning if record.levelno >= logging.WARNING else lsp.MessageType.Log)
            self.server.window_log_message(lsp.LogMessageParams(type=kind, message=redact(self.format(record))))
        except Exception:
            pass


def create_server() -> BatonServer:
    server = BatonServer()

    @server.feature(lsp.INITIALIZE)
    def on_initialize(ls: BatonServer, params: lsp.InitializeParams) -> None:
        ls.options = clean_options(params.initialization_options)

    @server.feature(lsp.INITIALIZED)
    def on_initialized(ls: BatonServer, params: lsp.InitializedParams) -> None:
        for root in ls.workspace_roots():
            try:
                _, warnings = ls.settings_for(root)
            except Exception as e:  # a bad baton.toml: say so now, the commands will say it again
                ls.warn_once(f"Baton settings: {e}")
                continue
            for w in warnings:
                ls.warn_once(w)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: BatonServer, params: lsp.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and ("baton" in settings or settings):
            ls.options = clean_options(settings)
            ls._warned.clear()
            for root in ls.workspace_roots():
                try:
                    for w in ls.settings_for(root)[1]:
                        ls.warn_once(w)
                except Exception as e:
                    ls.warn_once(f"Baton settings: {e}")
        log.info("configuration updated (%s)", ", ".join(sorted(k for k in ls.options if k != "apiKey")) or "defaults")

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def on_open(ls: BatonServer, params: lsp.DidOpenTextDocumentParams) -> None:
        pass  # pygls keeps the document; snapshots read it

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: BatonServer, params: lsp.DidChangeTextDocumentParams) -> None:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        ls.runs.findings.on_change(doc.uri, doc.source)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(ls: BatonServer, params: lsp.DidCloseTextDocumentParams) -> None:
        pass

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    def on_code_action(ls: BatonServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return ls.runs.findings.code_actions(params)

    @server.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def on_progress_cancel(ls: BatonServer, params: lsp.WorkDoneProgressCancelParams) -> None:
        ls.runs.cancel_token(params.token)

    @server.feature(lsp.SHUTDOWN)
    async def on_shutdown(ls: BatonServer, params: Any) -> None:
        await ls.runs.shutdown()

    commands.install(server)
    assert DISMISS_COMMAND == commands.DISMISS_FINDING
    return server


def run_server(tcp: str | None = None, log_level: str = "INFO") -> int:
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = create_server()
    handler = _ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("baton").addHandler(handler)
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            print(f"baton-lsp: --tcp expects HOST:PORT, got {tcp!r}", file=sys.stderr)
            return 2
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


__all__ = ["BatonServer", "asyncio", "create_server", "run_server"]
