"""Shared safety net: no test can reach a real model with a developer's key.

Every test starts with OPENAI_* and BATON_* removed from the environment (subprocesses
inherit that), so a code path that forgot its scripted base URL fails with Baton's
"no API key" error instead of calling api.openai.com.
"""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_real_model_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "BATON_", "AZURE_OPENAI_")) and name != "BATON_SKIP_WHEEL":
            monkeypatch.delenv(name, raising=False)
