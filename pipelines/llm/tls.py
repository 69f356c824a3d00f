"""The process's one TLS client context. Building one loads the CA bundle (0.05-0.15 s of CPU),
so it is made once, in its own thread when a run starts (llm/prefetch.py), and shared by every
client. Imports only httpx2 and ssl."""

from __future__ import annotations

import ssl
import threading

import httpx2

__all__ = ["shared_ssl_context"]

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process's one TLS client context, made on first use exactly as the SDK's default HTTP
    client makes its own (httpx2's defaults: the system trust store via truststore on macOS and
    Windows, SSL_CERT_FILE / SSL_CERT_DIR when set). It is only read after it is built, so
    clients on any thread or event loop can share it. SSL_CERT_* changed later in the process
    are not seen."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx2.create_ssl_context()
        return _ssl_context
