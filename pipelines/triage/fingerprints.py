"""One attempt per failure: a failure's fingerprint (test ids + error kinds + commit) is stored
with the run that attempted it, so the same failure on the same commit is never attempted twice
(a CI loop cannot open fix after fix). Kept in `.baton/triage/attempts.json`, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..models import FailureReport, utcnow

_LOCK = threading.Lock()


class Attempt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    commit: str
    run_id: str
    outcome: str
    summary: str = ""
    at: str = ""


def fingerprint(report: FailureReport, commit: str) -> str:
    """Stable across input formats: the same failing tests with the same error kinds on the same
    commit give the same fingerprint whether they came from JUnit XML or a raw log."""
    items = sorted({(f.test_id or f"{f.kind}:{f.path}:{f.line}:{f.message[:200] if f.kind == 'issue' else ''}",
                     f.error_kind.rsplit(".", 1)[-1]) for f in report.failures})
    data = json.dumps({"commit": commit, "failures": items}, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


class AttemptStore:
    def __init__(self, workspace: Path) -> None:
        self.path = workspace / ".baton" / "triage" / "attempts.json"

    def _load(self) -> dict[str, Attempt]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError):
            return {}  # a damaged file must not stop triage; it is rewritten on the next record
        out = {}
        for key, value in raw.items() if isinstance(raw, dict) else ():
            try:
                out[key] = Attempt.model_validate(value)
            except ValidationError:
                continue
        return out

    def find(self, fp: str) -> Attempt | None:
        with _LOCK:
            return self._load().get(fp)

    def record(self, attempt: Attempt) -> None:
        with _LOCK:
            data = self._load()
            data[attempt.fingerprint] = attempt.model_copy(update={"at": attempt.at or utcnow().isoformat()})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".attempts-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({k: v.model_dump() for k, v in data.items()}, fh, indent=2)
            os.replace(tmp, self.path)
