"""The model client's import (the openai SDK: ~0.5 s of CPU) in a background thread, started when
a run starts, so that it overlaps the listing, the repo map and the sandbox set-up; and beside it
the TLS context the clients share (loading the CA bundle runs without the GIL), so neither is on
the first model call's path. Imports nothing heavy itself.

Started earlier (at the top of `baton run`, beside Baton's own imports) it measured slower on
sympy, alternating both ways: two threads importing at once mostly wait on each other.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import threading
from types import ModuleType

CLIENT_MODULE = "baton.pipelines.llm.client"
TLS_MODULE = "baton.pipelines.llm.tls"
_guard = threading.Lock()
_import: concurrent.futures.Future[ModuleType] | None = None


def prefetch() -> concurrent.futures.Future[ModuleType]:
    """Start importing the client module (and openai) in a thread, once per process."""
    global _import
    with _guard:
        if _import is None:
            future: concurrent.futures.Future[ModuleType] = concurrent.futures.Future()

            def work() -> None:
                try:
                    module = importlib.import_module(CLIENT_MODULE)
                except BaseException as e:  # handed to the first model call, which raises it
                    future.set_exception(e)
                    return
                future.set_result(module)

            def tls() -> None:
                try:
                    importlib.import_module(TLS_MODULE).shared_ssl_context()
                except Exception:  # noqa: BLE001 - the first client that needs it reports the error
                    pass

            threading.Thread(target=work, name="baton-import-openai", daemon=True).start()
            threading.Thread(target=tls, name="baton-tls-context", daemon=True).start()
            _import = future
        return _import
