"""The lean editor of bench_server.py: starts a server over stdio, answers its requests
(progress, showDocument; edits are declined so the benchmark's files never change), counts
its notifications and knows when a run has finished."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

CAPABILITIES = lsp.ClientCapabilities(
    window=lsp.WindowClientCapabilities(work_done_progress=True,
                                        show_document=lsp.ShowDocumentClientCapabilities(support=True)),
    workspace=lsp.WorkspaceClientCapabilities(
        apply_edit=True, configuration=False,
        workspace_edit=lsp.WorkspaceEditClientCapabilities(
            document_changes=True, change_annotation_support=lsp.ChangeAnnotationsSupportOptions(groups_on_label=True),
            resource_operations=[lsp.ResourceOperationKind.Create, lsp.ResourceOperationKind.Rename,
                                 lsp.ResourceOperationKind.Delete])),
)


class Client:
    """A lean editor: answers the server's requests, counts its notifications, declines edits."""

    def __init__(self, stderr_file: str | None = None) -> None:
        self.lc = LanguageClient("bench", "1")
        self.stderr_file = open(stderr_file, "ab") if stderr_file else None  # noqa: SIM115
        self.notifications = 0
        self.finished: dict[str, asyncio.Event] = {}
        self.stderr_tail: list[bytes] = []
        lc = self.lc

        @lc.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create(params: Any) -> None:
            return None

        @lc.feature(lsp.WINDOW_SHOW_DOCUMENT)
        def _show(params: Any) -> lsp.ShowDocumentResult:
            return lsp.ShowDocumentResult(success=True)

        @lc.feature(lsp.WORKSPACE_APPLY_EDIT)
        def _apply(params: Any) -> lsp.ApplyWorkspaceEditResult:
            return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="benchmark: declined")

        for method in (lsp.PROGRESS, lsp.WINDOW_LOG_MESSAGE, lsp.WINDOW_SHOW_MESSAGE,
                       lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS):
            lc.feature(method)(lambda params: self._count())

        @lc.feature("baton/runUpdate")
        def _update(params: Any) -> None:
            self.notifications += 1
            if params.status in ("succeeded", "failed", "cancelled"):
                self.finished.setdefault(params.runId, asyncio.Event()).set()

    def _count(self) -> None:
        self.notifications += 1

    async def start(self, cmd: list[str], roots: list[Path], options: dict[str, Any] | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}
        await self.lc.start_io(*cmd, env=env)
        server = self.lc._server
        assert server is not None and server.stderr is not None
        self._drain = asyncio.create_task(self._drain_stderr(server.stderr))
        await self.lc.initialize_async(lsp.InitializeParams(
            capabilities=CAPABILITIES, root_uri=roots[0].as_uri(), process_id=os.getpid(),
            workspace_folders=[lsp.WorkspaceFolder(uri=r.as_uri(), name=r.name) for r in roots],
            initialization_options=options))
        self.lc.initialized(lsp.InitializedParams())

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_tail = [*self.stderr_tail[-50:], line]
            if self.stderr_file is not None:
                self.stderr_file.write(line)

    def open(self, path: Path) -> str:
        uri = path.as_uri()
        self.lc.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=path.read_text())))
        return uri

    async def execute(self, command: str, arg: dict[str, Any]) -> Any:
        return await self.lc.workspace_execute_command_async(lsp.ExecuteCommandParams(command=command, arguments=[arg]))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.lc.shutdown_async(None), 30)
            self.lc.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.lc.stop(), 30)


def code_action_params(uri: str) -> lsp.CodeActionParams:
    return lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=lsp.Position(line=3, character=0), end=lsp.Position(line=3, character=0)),
        context=lsp.CodeActionContext(diagnostics=[]))
