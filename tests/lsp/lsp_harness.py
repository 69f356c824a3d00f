"""pytest-lsp end-to-end harness (fixtures are re-exported by conftest.py): the real server over stdio, the scripted model over real HTTP,
tmp git projects, and a test client that answers workspace/applyEdit like an editor would.

The client's applier checks what a strict editor checks (document versions, known change
annotations, file operations) and can refuse, go stale first, or write the result to disk
(the user accepting the preview and saving).
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_asyncio
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from baton.pipelines.llm.scripted import ScriptedLLM
from baton.server.edits import apply_text_edits

REPO = Path(__file__).resolve().parents[2]
DEMO_PROJECT = REPO / "pipelines" / "demo" / "project"
PY = sys.executable
# A test command that proves the sandbox holds the change (imports the new function) in ~50 ms.
FAST_TESTS = f"{PY} -c \"import sys; sys.path.insert(0, '.'); from textkit import top_words; print('1 passed')\""
TIMEOUT = 60.0  # safety net only: nothing asserts on time

STATS_PATCH = "\n".join([
    "*** Begin Patch",
    "*** Update File: textkit/stats.py",
    "@@",
    ' """Counting words."""',
    " ",
    " import re",
    "+from collections import Counter",
    " ",
    ' _WORD = re.compile(r"[a-z\']+")',
    "@@ def word_count(text: str) -> int:",
    '     """How many words a text has."""',
    "     return len(words(text))",
    "+",
    "+",
    "+def top_words(text: str, n: int) -> list[tuple[str, int]]:",
    '+    """The n most common words with their counts; ties keep first-seen order."""',
    "+    if n < 0:",
    '+        raise ValueError(f"n must be zero or more, got {n}")',
    "+    return Counter(words(text)).most_common(n)",
    "*** Update File: textkit/__init__.py",
    "@@",
    "-from .stats import word_count, words",
    "+from .stats import top_words, word_count, words",
    " ",
    '-__all__ = ["word_count", "words"]',
    '+__all__ = ["top_words", "word_count", "words"]',
    "*** Add File: tests/test_top_words.py",
    "+from textkit import top_words",
    "+",
    "+",
    "+def test_top_words_counts_and_orders():",
    '+    assert top_words("b a b c b a", 2) == [("b", 3), ("a", 2)]',
    "*** End Patch",
])

TOP_WORDS = '''

def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The n most common words with their counts; ties keep first-seen order."""
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    return Counter(words(text)).most_common(n)
'''
NEW_TEST_FILE = '''from textkit import top_words


def test_top_words_counts_and_orders():
    assert top_words("b a b c b a", 2) == [("b", 3), ("a", 2)]
'''
SUGGESTION = '        raise ValueError(f"n must be >= 0, got {n}")'
FINDING_LINE = 22  # `raise ValueError(...)` in the proposed textkit/stats.py

PLAN = {
    "summary": "Add top_words(text, n) to textkit.stats with Counter.most_common, export it, test it.",
    "steps": [
        {"title": "Add top_words to textkit/stats.py", "detail": "Counter(words(text)).most_common(n).",
         "files": ["textkit/stats.py"]},
        {"title": "Export it", "detail": "textkit/__init__.py", "files": ["textkit/__init__.py"]},
        {"title": "Test it", "detail": "A new test file.", "files": ["tests/test_top_words.py"]},
    ],
    "files_to_touch": ["textkit/stats.py", "textkit/__init__.py", "tests/test_top_words.py"],
    "test_strategy": "A new pytest test.",
}


def expected_stats(original: str) -> str:
    text = original.replace("import re\n", "import re\nfrom collections import Counter\n", 1)
    return text + TOP_WORDS


def expected_init(original: str) -> str:
    return (original.replace("from .stats import word_count, words", "from .stats import top_words, word_count, words")
            .replace('__all__ = ["word_count", "words"]', '__all__ = ["top_words", "word_count", "words"]'))


def role_models(prefix: str) -> dict[str, str]:
    return {"planner": f"{prefix}-planner", "implementer": f"{prefix}-coder", "reviewer": f"{prefix}-reviewer"}


def session(prefix: str = "t", *, planner_fault: dict[str, Any] | None = None, verdict: str = "approved",
            plan: dict[str, Any] | None = None, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A short scripted run: plan at once, patch + submit, review with one finding (with a suggestion)."""
    models = role_models(prefix)
    submit_plan: dict[str, Any] = {"tool_calls": [{"name": "submit_plan", "arguments": plan or PLAN}]}
    if planner_fault:
        submit_plan["fault"] = planner_fault
    if findings is None:
        findings = [{"path": "textkit/stats.py", "line": FINDING_LINE, "severity": "warning",
                     "message": "Say what n must be in the error.", "suggestion": SUGGESTION}]
    return {
        models["planner"]: [submit_plan],
        models["implementer"]: [
            {"tool_calls": [{"name": "apply_patch", "arguments": {"patch": STATS_PATCH}}], "expect": ["top_words"]},
            {"tool_calls": [{"name": "submit_changes",
                             "arguments": {"summary": "Added top_words, exported it, tested it.", "tests_passed": True}}]},
        ],
        models["reviewer"]: [
            {"tool_calls": [{"name": "submit_review",
                             "arguments": {"verdict": verdict, "summary": "Does what the task asks.",
                                           "findings": findings}}]},
        ],
    }


def make_project(dest: Path, *, baton_toml: str | None = None) -> Path:
    """The demo project as a committed git repository (a user's checkout)."""
    shutil.copytree(DEMO_PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if baton_toml is not None:
        (dest / "baton.toml").write_text(baton_toml, encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "textkit"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def tree(root: Path) -> dict[str, str]:
    """Every file under root except .git/ and .baton/ (to show nothing was written)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".git/", ".baton/")) and "__pycache__" not in rel:
            out[rel] = p.read_text(encoding="utf-8")
    return out


def server_env(**extra: str) -> dict[str, str]:
    """The server's environment: no real keys, no BATON_* settings from the host."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "BATON_", "AZURE_OPENAI")) and k not in ("CI",)}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- the editor side


class EditorState:
    """What the fake editor holds: open buffers (text + version), and what it did with edits."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.buffers: dict[str, tuple[str, int]] = {}  # uri → (text, version)
        self.edit_requests: list[lsp.ApplyWorkspaceEditParams] = []
        self.policy: str = "apply"  # apply | refuse | stale-then-apply
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
                       configuration: dict[str, Any] | None = None) -> tuple[LanguageClient, EditorState]:
    """Start `python -m baton.server` over stdio and initialize it like an editor with `caps`.
    `configuration` is what the client answers to workspace/configuration (the pull model)."""
    client = make_test_lsp_client()
    if configuration is not None:
        client.set_configuration(configuration)
    _fix_code_action_union(client)
    state = EditorState(client, roots[0])

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    async def apply_edit(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        return await state.on_apply_edit(params)

    client.run_updates = []  # type: ignore[attr-defined]

    @client.feature("baton/runUpdate")
    def run_update(params: Any) -> None:
        client.run_updates.append(_plain(params))  # type: ignore[attr-defined]

    await client.start_io(PY, "-m", "baton.server", *server_args, env=env or server_env())
    try:
        state.init_result = await asyncio.wait_for(client.initialize_session(lsp.InitializeParams(
            capabilities=capabilities_for(caps),
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


def options(url: str, prefix: str | None = "t", **extra: Any) -> dict[str, Any]:
    """initializationOptions as the VS Code extension sends them (the `baton` section).
    prefix=None leaves the models to each folder's baton.toml."""
    opts: dict[str, Any] = {"baseUrl": url, "apiKey": "sk-test-not-a-real-key-1234", "testCommand": FAST_TESTS,
                            "maxRetries": 0, **extra}
    if prefix is not None:
        opts["models"] = role_models(prefix)
    return {"baton": opts}


def folder_models_toml(prefix: str) -> str:
    """A baton.toml giving a folder its own model names, so runs in two folders never share a script."""
    return "".join(f'[roles.{role}]\nmodel = "{model}"\n' for role, model in role_models(prefix).items())


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
            if u["status"] in ("succeeded", "failed", "cancelled"):
                return u
        return None

    return await wait_until(f"run {run_id} to finish", done)
