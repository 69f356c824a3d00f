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

from . import commands
from .logs import ClientLogHandler, RedactFilter, ToClientOnly, configure_logging
from .options import clean_options, settings_for
from .progress import supports_configuration, supports_show_document
from .review import DISMISS_COMMAND
from .runs import RunManager
from .stdio import EXIT_WATCHDOG_S, serve_stdio

log = logging.getLogger("baton.server")
CONFIGURATION_WAIT_S = 10.0  # how long a command waits for the client's first workspace/configuration answer


class BatonServer(LanguageServer):
    """The server's state: client options, the run manager, and the workspace roots."""

    def __init__(self) -> None:
        super().__init__("baton", __version__)
        self.options: dict[str, Any] = {}
        self.runs = RunManager(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._warned: set[str] = set()
        self._configured: asyncio.Event | None = None  # set once the first settings are in
        self._roots_key: tuple[str, ...] = ()
        self._roots: list[Path] = []

    # -------------------------------------------------------------- settings

    async def needs_confirmation(self, root: Path) -> bool:
        try:
            return (await self.settings_async(root))[0].needs_confirmation
        except Exception:
            return True

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=message))

    @property
    def configured(self) -> asyncio.Event:
        if self._configured is None:
            self._configured = asyncio.Event()
        return self._configured

    async def settings_async(self, root: Path) -> tuple[Settings, list[str]]:
        """settings_for off the event loop (it reads baton.toml / pyproject.toml), once the
        settings the client is still being asked for (workspace/configuration) are in."""
        if not self.configured.is_set():
            try:
                await asyncio.wait_for(self.configured.wait(), CONFIGURATION_WAIT_S)
            except TimeoutError:
                log.warning("no answer to workspace/configuration after %ss; going on without it", CONFIGURATION_WAIT_S)
                self.configured.set()
        return await asyncio.to_thread(settings_for, root, dict(self.options))

    async def check_settings(self) -> None:
        """Say now (once) when a setting is wrong; the commands would say it again."""
        for root in self.workspace_roots():
            try:
                _, warnings = await self.settings_async(root)
            except Exception as e:  # a bad baton.toml
                for w in getattr(e, "option_warnings", []):
                    self.warn_once(w)
                self.warn_once(f"Baton settings: {e}")
                continue
            for w in warnings:
                self.warn_once(w)

    async def pull_configuration(self) -> None:
        """Ask the client for the `baton` section (clients that send `settings: null`)."""
        try:
            result = await self.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="baton")]))
        except Exception as e:
            log.info("workspace/configuration failed: %s", e)
            return
        if result and isinstance(result[0], dict):
            self.options = clean_options(result[0])

    def workspace_roots(self) -> list[Path]:
        """The workspace folders (or the root), resolved; cached per set of folder URIs."""
        uris = tuple(f.uri for f in self.workspace.folders.values()) if self.workspace.folders else ()
        if not uris and self.workspace.root_uri:
            uris = (self.workspace.root_uri,)
        if uris != self._roots_key:
            self._roots = [Path(to_fs_path(u) or u).resolve() for u in uris if u.startswith("file:")]
            self._roots_key = uris
        return list(self._roots)

    async def show_document(self, uri: str) -> None:
        """Open a document in the editor; clients without showDocument (or that fail it) get its path."""
        if supports_show_document(self):
            try:
                result = await self.window_show_document_async(lsp.ShowDocumentParams(uri=uri, take_focus=True))
                if result is None or result.success:
                    return
            except Exception as e:
                log.info("showDocument %s failed (%s); sending its path instead", uri, e)
        self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Info, message=f"Baton: {to_fs_path(uri)}"))


def create_server() -> BatonServer:
    server = BatonServer()

    @server.feature(lsp.INITIALIZE)
    def on_initialize(ls: BatonServer, params: lsp.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.options = clean_options(params.initialization_options)
        if ls.options or not supports_configuration(ls):
            ls.configured.set()  # nothing to ask the client for

    @server.feature(lsp.INITIALIZED)
    async def on_initialized(ls: BatonServer, params: lsp.InitializedParams) -> None:
        ls.runs.warm_up(*commands.PATTERNS.values())
        ls.runs.spawn(ls.runs.recover(ls.workspace_roots()))  # runs a killed Baton left `running`
        for root in ls.workspace_roots():  # findings shown before a restart (a window reload) come back
            ls.runs.spawn(ls.runs.findings.restore(root, ls.runs.store(root)))
        try:
            if not ls.options and supports_configuration(ls):
                await ls.pull_configuration()
        finally:
            ls.configured.set()
        await ls.check_settings()

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: BatonServer, params: lsp.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and settings:
            ls.options = clean_options(settings)
        elif supports_configuration(ls):  # the pull model: the notification only says "ask me"
            await ls.pull_configuration()
        else:
            return
        ls._warned.clear()
        await ls.check_settings()
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
    configure_logging(log_level)
    server = create_server()
    server.runs.host.log_level = log_level
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(RedactFilter())
    logging.getLogger("baton").addHandler(handler)
    for h in logging.getLogger().handlers:  # stderr: only what the client cannot receive
        h.addFilter(ToClientOnly(server))
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            print(f"baton-lsp: --tcp expects HOST:PORT, got {tcp!r}", file=sys.stderr)
            return 2
        server.start_tcp(host or "127.0.0.1", int(port))
        return 0
    return serve_stdio(server, exit_watchdog_s=EXIT_WATCHDOG_S)


__all__ = ["BatonServer", "configure_logging", "create_server", "run_server"]
