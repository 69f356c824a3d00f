"""Review findings → diagnostics (source `baton`) with code actions: apply the suggestion,
or dismiss. Findings are about lines of the proposed text, so they are shown only while a
file's text is the proposal, and cleared when the file changes or the run is dismissed."""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pydantic import ValidationError

from baton.pipelines.models import Finding, Severity
from baton.pipelines.workspace.paths import PathRefused, resolve_inside

from .edits import path_to_uri

log = logging.getLogger(__name__)

SOURCE = "baton"
FINDINGS_FILE = "findings.json"
DISMISS_COMMAND = "baton.dismissFinding"

_SEVERITY = {
    Severity.error: lsp.DiagnosticSeverity.Error,
    Severity.warning: lsp.DiagnosticSeverity.Warning,
    Severity.info: lsp.DiagnosticSeverity.Information,
    Severity.hint: lsp.DiagnosticSeverity.Hint,
}


@dataclass
class FileFindings:
    run_id: str
    uri: str
    proposed_text: str
    findings: list[tuple[int, Finding]] = field(default_factory=list)  # (index in review, finding)
    root: Path | None = None
    rel: str = ""


class FindingsBoard:
    """Which findings are on show, per document URI."""

    def __init__(self, ls: Any) -> None:
        self.ls = ls
        self.by_uri: dict[str, FileFindings] = {}

    def publish(self, run_id: str, root: Path, findings: list[Finding], proposed: dict[str, str],
                applied: dict[str, str]) -> int:
        """Show a run's findings on the files the editor just applied. Returns the count shown.

        Findings name lines of the proposal; `applied` is the text the editor now has (the
        proposal, or the proposal rebased onto the user's edits), so each line is mapped
        through the rebase, and a finding on a line the rebase changed is dropped. The
        editor said it applied the edit, so its didChange may still be on the way: the text
        is trusted, and the first change that differs clears the findings (on_change)."""
        grouped: dict[str, FileFindings] = {}
        for i, f in enumerate(findings):
            before, after = proposed.get(f.path), applied.get(f.path)
            if before is None or after is None:
                continue
            line = map_line(before, after, f.line or 1)
            if line is None:
                continue
            uri = path_to_uri(root, f.path)
            ff = grouped.setdefault(uri, FileFindings(run_id, uri, after, root=root, rel=f.path))
            ff.findings.append((i, f.model_copy(update={"line": line})))
        for uri, ff in grouped.items():
            self.by_uri[uri] = ff
            self._send(uri)
        self._save(run_id)
        return sum(len(ff.findings) for ff in grouped.values())

    # ------------------------------------------------------------------ across restarts

    def _save(self, run_id: str) -> None:
        """Keep what is on show for a run in its findings.json, so a restarted server (a window
        reload) shows it again while the files still hold the text the findings are about."""
        shown = [ff for ff in self.by_uri.values() if ff.run_id == run_id and ff.root is not None]
        roots = {ff.root for ff in shown}
        if not roots:
            return
        root = next(iter(roots))
        data = {"version": 1, "files": {
            ff.rel: {"sha256": _digest(ff.proposed_text),
                     "findings": [{"index": i, "finding": f.model_dump(mode="json")} for i, f in ff.findings]}
            for ff in shown}}
        store = self.ls.runs.store(root)
        self.ls.runs.spawn(asyncio.to_thread(store.write_artifact, run_id, FINDINGS_FILE, json.dumps(data, indent=1)))

    async def restore(self, root: Path, store: Any, runs: int = 20) -> int:
        """Publish again, per file, the findings of the latest run that showed some, when the
        file's text on disk is still the text they were about. Returns how many were shown."""
        restored = await asyncio.to_thread(_load_latest, root, store, runs)
        shown = 0
        for rel, (run_id, text, findings) in restored.items():
            uri = path_to_uri(root, rel)
            if uri in self.by_uri:
                continue  # a run of this session got there first
            self.by_uri[uri] = FileFindings(run_id, uri, text, findings, root=root, rel=rel)
            self._send(uri)
            shown += len(findings)
        log.info("findings: %d shown again from earlier runs in %s", shown, root.name)
        return shown


    def _send(self, uri: str) -> None:
        ff = self.by_uri.get(uri)
        diags = [] if ff is None else [self._diagnostic(ff, i, f) for i, f in ff.findings]
        self.ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diags))

    @staticmethod
    def _diagnostic(ff: FileFindings, index: int, f: Finding) -> lsp.Diagnostic:
        lines = ff.proposed_text.splitlines()
        line = min(max((f.line or 1) - 1, 0), max(len(lines) - 1, 0))
        length = len(lines[line].encode("utf-16-le")) // 2 if lines else 0
        return lsp.Diagnostic(
            range=lsp.Range(start=lsp.Position(line=line, character=0), end=lsp.Position(line=line, character=length)),
            message=f.message + (f"\nSuggestion: {f.suggestion}" if f.suggestion else ""),
            severity=_SEVERITY[f.severity],
            source=SOURCE,
            code=f"review:{ff.run_id}",
            data={"runId": ff.run_id, "index": index},
        )

    def on_change(self, uri: str, text: str) -> None:
        """A document changed: its findings are stale unless the text is still the proposal."""
        ff = self.by_uri.get(uri)
        if ff is not None and text != ff.proposed_text:
            del self.by_uri[uri]
            self._send(uri)

    def dismiss(self, run_id: str, index: int | None = None) -> int:
        """Dismiss one finding, or all of a run's. Returns how many were removed."""
        removed = 0
        for uri, ff in list(self.by_uri.items()):
            if ff.run_id != run_id:
                continue
            keep = [(i, f) for i, f in ff.findings if index is not None and i != index]
            removed += len(ff.findings) - len(keep)
            ff.findings = keep
            if not keep:
                del self.by_uri[uri]
            self._send(uri)
        if removed:
            self._save_dismissed(run_id)
        return removed

    def _save_dismissed(self, run_id: str) -> None:
        """After a dismissal: what is left (possibly nothing) is what comes back after a restart."""
        left = [ff for ff in self.by_uri.values() if ff.run_id == run_id]
        if left:
            self._save(run_id)
            return
        for root in self.ls.workspace_roots():
            store = self.ls.runs.store(root)
            if (store.run_dir(run_id) / FINDINGS_FILE).is_file():  # noqa: ASYNC240 — one stat
                self.ls.runs.spawn(asyncio.to_thread(store.write_artifact, run_id, FINDINGS_FILE,
                                                     json.dumps({"version": 1, "files": {}})))

    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        ff = self.by_uri.get(uri)
        if ff is None:
            return []
        actions: list[lsp.CodeAction] = []
        for diag in params.context.diagnostics:
            if diag.source != SOURCE or not isinstance(diag.data, dict):
                continue
            index = diag.data.get("index")
            finding = next((f for i, f in ff.findings if i == index), None)
            if finding is None:
                continue
            if finding.suggestion is not None:
                line = diag.range.start.line
                lines = ff.proposed_text.splitlines(keepends=True)
                eol = "\r\n" if lines and lines[min(line, len(lines) - 1)].endswith("\r\n") else "\n"
                new_text = finding.suggestion.rstrip("\r\n") + eol
                edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(
                    range=lsp.Range(start=lsp.Position(line=line, character=0),
                                    end=lsp.Position(line=line + 1, character=0)),
                    new_text=new_text)]})
                actions.append(lsp.CodeAction(title=f"Baton: apply suggestion ({finding.message[:50]})",
                                              kind=lsp.CodeActionKind.QuickFix, diagnostics=[diag], edit=edit,
                                              is_preferred=True,
                                              command=lsp.Command(title="dismiss", command=DISMISS_COMMAND,
                                                                  arguments=[{"runId": ff.run_id, "index": index}])))
            actions.append(lsp.CodeAction(title="Baton: dismiss this finding", kind=lsp.CodeActionKind.QuickFix,
                                          diagnostics=[diag],
                                          command=lsp.Command(title="Dismiss finding", command=DISMISS_COMMAND,
                                                              arguments=[{"runId": ff.run_id, "index": index}])))
        return actions


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load_latest(root: Path, store: Any, runs: int) -> dict[str, tuple[str, str, list[tuple[int, Finding]]]]:
    """rel → (run id, file text, findings) from the newest runs' findings.json whose file text
    still matches. Blocking (SQLite, files): off the event loop. A damaged file is skipped."""
    out: dict[str, tuple[str, str, list[tuple[int, Finding]]]] = {}
    seen: set[str] = set()
    try:
        summaries = store.summaries(runs) if store.db_path.exists() else []
    except (sqlite3.Error, OSError, ValueError) as e:  # a damaged index must not stop the server
        log.info("findings not restored: the run index could not be read (%s)", e)
        return out
    for summary in summaries:
        path = store.run_dir(summary.id) / FINDINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(files, dict):
            continue
        for rel, entry in files.items():
            if rel in seen or not isinstance(entry, dict):
                continue
            seen.add(rel)  # the newest run that named the file decides, even with nothing left
            try:
                full, _ = resolve_inside(root, rel)
                text = full.read_text(encoding="utf-8")
                findings = [(int(x["index"]), Finding.model_validate(x["finding"])) for x in entry["findings"]]
            except (OSError, ValueError, KeyError, TypeError, PathRefused, ValidationError):
                continue
            if findings and _digest(text) == entry.get("sha256"):
                out[rel] = (summary.id, text, findings)
    return out


def map_line(before: str, after: str, line: int) -> int | None:
    """1-based `line` of `before` → its line in `after`, or None when the line itself changed."""
    if before == after:
        return line
    a, b = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal" and i1 < line <= i2:
            return j1 + (line - i1)
    return None
