"""pytest-lsp end-to-end harness, the editor side (fixtures are re-exported by conftest.py):
the real server over stdio, the scripted model over real HTTP, and a test client that
answers workspace/applyEdit like an editor would. The projects and the scripted session are
in lsp_session.py.

The client's applier checks what a strict editor checks (document versions, known change
annotations, file operations) and can refuse, go stale first, or write the result to disk
(the user accepting the preview and saving).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_asyncio
from lsp_session import PY, TIMEOUT, server_env
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from baton.pipelines.llm.scripted import ScriptedLLM
from baton.server.edits import apply_text_edits

# A test command that proves the sandbox holds the change (imports the new function) in ~50 ms.
# --------------------------------------------------------------------------- the editor side


class EditorState:
    """What the fake editor holds: open buffers (text + version), and what it did with edits."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.buffers: dict[str, tuple[str, int]] = {}  # uri → (text, version)
        self.edit_requests: list[lsp.ApplyWorkspaceEditParams] = []
        self.policy: str = "apply"  # apply | refuse | discard | stale-then-apply
        self.before_answer: Callable[[lsp.ApplyWorkspaceEditParams], Any] | None = None
        self.applied = asyncio.Event()
        self.init_result: lsp.InitializeResult | None = None
        self.answered = asyncio.Event()

    # ----------------------------------------------------------- buffers

    def open(self, rel: str, text: str | None = None) -> str:
        path = self.root / rel
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8") if text is None else text
        self.buffers[uri] = (text, 1)
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
        return uri

    def type_into(self, uri: str, text: str) -> int:
        """Replace a buffer's text (the user typing); returns the new version."""
        _, version = self.buffers[uri]
        version += 1
        self.buffers[uri] = (text, version)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
        return version

    def text(self, uri: str) -> str | None:
        if uri in self.buffers:
            return self.buffers[uri][0]
        path = Path(uri.removeprefix("file://"))
        return path.read_text(encoding="utf-8") if path.exists() else None

    # ----------------------------------------------------------- applying

    async def on_apply_edit(self, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        self.edit_requests.append(params)
        try:
            if self.before_answer is not None:
                hook = self.before_answer(params)
                if asyncio.iscoroutine(hook):
                    await hook
            if self.policy == "refuse":
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="the user declined")
            if self.policy == "discard":  # VS Code's Refactor Preview, Discard: no reason given
                return lsp.ApplyWorkspaceEditResult(applied=False)
            if self.policy == "stale-then-apply" and len(self.edit_requests) == 1:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="document changed")
            try:
                self.apply(params.edit)
            except StaleEdit as e:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason=str(e))
            self.applied.set()
            return lsp.ApplyWorkspaceEditResult(applied=True)
        finally:
            self.answered.set()

    def apply(self, edit: lsp.WorkspaceEdit) -> None:
        """All or nothing, like a transactional editor: check everything, then write to disk + buffers."""
        writes: dict[str, str | None] = {}  # uri → new text (None: delete)
        renames: list[tuple[str, str]] = []

        def current(uri: str) -> str | None:
            if uri in writes:
                return writes[uri]
            return self.text(uri)

        annotations = edit.change_annotations or {}
        if edit.document_changes is not None:
            for change in edit.document_changes:
                if isinstance(change, lsp.TextDocumentEdit):
                    uri = change.text_document.uri
                    want = change.text_document.version
                    if uri in self.buffers and want is not None and self.buffers[uri][1] != want:
                        raise StaleEdit(f"{uri} is at version {self.buffers[uri][1]}, the edit is for {want}")
                    text = current(uri)
                    if text is None:
                        raise StaleEdit(f"{uri} does not exist")
                    for te in change.edits:
                        ann = getattr(te, "annotation_id", None)
                        assert ann is None or ann in annotations, f"unknown change annotation {ann!r}"
                    writes[uri] = apply_text_edits(text, [(te.range, te.new_text) for te in change.edits])
                elif isinstance(change, lsp.CreateFile):
                    if current(change.uri) is not None:
                        raise StaleEdit(f"{change.uri} exists")
                    writes[change.uri] = ""
                elif isinstance(change, lsp.DeleteFile):
                    writes[change.uri] = None
                elif isinstance(change, lsp.RenameFile):
                    renames.append((change.old_uri, change.new_uri))
                    writes[change.new_uri] = current(change.old_uri)
                    writes[change.old_uri] = None
        for uri, edits in (edit.changes or {}).items():
            text = current(uri) or ""
            writes[uri] = apply_text_edits(text, [(te.range, te.new_text) for te in edits])
        for uri, text in writes.items():
            path = Path(uri.removeprefix("file://"))
            if text is None:
                path.unlink(missing_ok=True)
                self.buffers.pop(uri, None)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if uri in self.buffers:
                self.type_into(uri, text)


class StaleEdit(Exception):
    pass


def capabilities_for(name: str) -> lsp.ClientCapabilities:
    return client_capabilities(name)


ClientFactory = Callable[..., Any]


@pytest.fixture
def scripted() -> Any:
    """Start a ScriptedLLM for a script: `url = scripted(models)`; stopped after the test."""
    servers: list[ScriptedLLM] = []

    def start(models: dict[str, Any]) -> ScriptedLLM:
        s = ScriptedLLM({"models": copy.deepcopy(models)})
        s.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


async def start_editor(roots: list[Path], caps: str = "visual-studio-code", options: dict[str, Any] | None = None,
                       env: dict[str, str] | None = None,
                       server_args: tuple[str, ...] = (),
                       configuration: dict[str, Any] | None = None,
                       capabilities: lsp.ClientCapabilities | None = None) -> tuple[LanguageClient, EditorState]:
    """Start `python -m baton.server` over stdio and initialize it like an editor with `caps`
    (or exactly `capabilities`). `configuration` is what the client answers to
    workspace/configuration (the pull model)."""
    client = make_test_lsp_client()
    if configuration is not None:
        client.set_configuration(configuration)
    _fix_code_action_union(client)
    state = EditorState(client, roots[0])

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    async def apply_edit(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        return await state.on_apply_edit(params)

    client.run_updates = []  # type: ignore[attr-defined]
    client.baton_notes = []  # type: ignore[attr-defined]  # (method, params) of baton/artifact, baton/editOutcome

    @client.feature("baton/runUpdate")
    def run_update(params: Any) -> None:
        client.run_updates.append(_plain(params))  # type: ignore[attr-defined]

    @client.feature("baton/artifact")
    def artifact(params: Any) -> None:
        client.baton_notes.append(("baton/artifact", _plain(params)))  # type: ignore[attr-defined]

    @client.feature("baton/editOutcome")
    def edit_outcome(params: Any) -> None:
        client.baton_notes.append(("baton/editOutcome", _plain(params)))  # type: ignore[attr-defined]

    await client.start_io(PY, "-m", "baton.server", *server_args, env=env or server_env())
    try:
        state.init_result = await asyncio.wait_for(client.initialize_session(lsp.InitializeParams(
            capabilities=capabilities or capabilities_for(caps),
            root_uri=roots[0].as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=r.as_uri(), name=r.name) for r in roots],
            initialization_options=options,
        )), TIMEOUT)
    except BaseException:
        await client.stop()
        raise
    return client, state


async def stop_editor(client: LanguageClient) -> None:
    """shutdown + exit, then wait for the server process; safe to call twice."""
    if getattr(client, "_baton_stopped", False):
        return
    client._baton_stopped = True  # type: ignore[attr-defined]
    try:
        await asyncio.wait_for(client.shutdown_session(), TIMEOUT)
    finally:
        await client.stop()


@pytest_asyncio.fixture
async def editor() -> AsyncIterator[Callable[..., Any]]:
    """`client, state = await editor(roots, caps="visual-studio-code", options={...}, env={...})`."""
    started: list[LanguageClient] = []

    async def start(*args: Any, **kwargs: Any) -> tuple[LanguageClient, EditorState]:
        client, state = await start_editor(*args, **kwargs)
        started.append(client)
        return client, state

    yield start
    for client in started:
        await stop_editor(client)


def _fix_code_action_union(client: LanguageClient) -> None:
    """lsprotocol 2025.0.0 structures any code action with a `command` field as a Command,
    dropping its edit; editors tell them apart by `command` being a string (the spec's rule)."""
    converter = client.protocol._converter

    def hook(obj: Any, _: type) -> lsp.Command | lsp.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, lsp.Command)
        return converter.structure(obj, lsp.CodeAction)

    converter.register_structure_hook(Union[lsp.Command, lsp.CodeAction], hook)  # noqa: UP007


def _plain(obj: Any) -> Any:
    """pygls hands unknown notifications over as namedtuples; tests want dicts."""
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


async def execute(client: LanguageClient, command: str, *args: Any) -> Any:
    return await asyncio.wait_for(client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command, arguments=list(args))), TIMEOUT)


async def wait_until(what: str, predicate: Callable[[], Any], limit_s: float = TIMEOUT) -> Any:
    """Poll until predicate() is truthy; the timeout is a safety net, not an assertion on speed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def run_updates(client: LanguageClient, run_id: str) -> list[dict[str, Any]]:
    return [u for u in getattr(client, "run_updates", []) if u.get("runId") == run_id]


def progress_kinds(client: LanguageClient, run_id: str) -> list[Any]:
    return client.progress_reports.get(f"baton-run-{run_id}", [])


def finished(client: LanguageClient, run_id: str) -> bool:
    return any(isinstance(p, lsp.WorkDoneProgressEnd) for p in progress_kinds(client, run_id))


async def wait_finished(client: LanguageClient, run_id: str) -> dict[str, Any]:
    """Wait for the run's terminal baton/runUpdate; returns it."""
    def done() -> dict[str, Any] | None:
        for u in run_updates(client, run_id):
            if u["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
                return u
        return None

    return await wait_until(f"run {run_id} to finish", done)
