"""The LSP base protocol over stdio, read so that one bad frame never deafens the server.

pygls 2.1's reader (pygls/io_.py `run_async`) keeps the first `Content-Length` it sees, waits
for a body of that length and never looks back: after garbage bytes, a non-numeric length or
a length longer than the message it swallows the next messages and answers nothing again.
Here a frame is `Content-Length: N` (other headers ignored), a blank line, N bytes; anything
else is reported as a FrameError and skipped up to the next `Content-Length:` header, so the
message after the bad one is read as usual.

A body cannot legally hold a raw `Content-Length: N` + CRLF (raw control characters are
invalid in JSON strings), so when one shows up inside the bytes a length claims, the length
was wrong and the next frame starts there: no wait for bytes that will never come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BODY = 256 * 1024 * 1024  # a didOpen of a huge file is large, but not this large
MAX_HEADER = 8 * 1024
_HEADER_START = b"content-"  # a header block starts with Content-Length or Content-Type
_LENGTH = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_NEXT_FRAME = re.compile(rb"content-length[ \t]*:[ \t]*\d+\r\n", re.IGNORECASE)
_END = b"\r\n\r\n"
_SKIPPED = object()  # bytes were dropped; parse on


@dataclass(frozen=True)
class Frame:
    body: bytes


@dataclass(frozen=True)
class FrameError:
    """Bytes that were not a well-formed frame, skipped; `reason` says what was wrong."""

    reason: str
    skipped: int


class FrameReader:
    """Feed it bytes as they arrive; it returns the frames (and errors) they complete."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._length: int | None = None  # the current frame's body length, once its header is read
        self._header_end = 0
        self._garbage = 0  # bytes skipped before the next header, reported once it is found

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        self._buf += data
        out: list[Frame | FrameError] = []
        while True:
            item = self._next()
            if item is None:
                return out
            if item is not _SKIPPED:
                out.append(item)  # type: ignore[arg-type]

    def pending(self) -> int:
        """Bytes held or skipped that made no frame (what EOF cuts off)."""
        return len(self._buf) + self._garbage

    # ------------------------------------------------------------------ parsing

    def _next(self) -> Frame | FrameError | object | None:
        if self._length is None:
            return self._header()
        return self._body()

    def _header(self) -> Frame | FrameError | object | None:
        buf = self._buf
        if not buf:
            return None
        if not _HEADER_START.startswith(bytes(buf[: len(_HEADER_START)]).lower()):
            return self._skip_to_next_header(0)
        if self._garbage:
            skipped, self._garbage = self._garbage, 0
            return FrameError(f"{skipped} byte(s) that are not an LSP header", skipped)
        if len(buf) < len(_HEADER_START):
            return None
        end = buf.find(_END)
        if end < 0:
            if len(buf) > MAX_HEADER:
                del buf[:1]
                self._garbage += 1
                return _SKIPPED  # a header that never ends: skipped with what follows, up to the next one
            return None
        block = bytes(buf[:end]).decode("ascii", errors="replace")
        length: int | None = None
        problem: str | None = None
        for line in block.split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                problem = f"a header line without a colon ({line[:60]!r})"
                break
            if name.strip().lower() == "content-length":
                value = value.strip()
                if not value.isdigit() or not value.isascii():
                    problem = f"Content-Length {value[:40]!r} is not a number"
                    break
                length = int(value)
        if problem is None and length is None:
            problem = "a header without Content-Length"
        if problem is None and length is not None and length > self.max_body:
            problem = f"Content-Length {length} is larger than the {self.max_body}-byte limit"
        if problem is not None:
            # a header that runs into the next one (a lost blank line): skip only up to it
            inner = _LENGTH.search(buf, 1, end)
            skipped = inner.start() if inner is not None else end + len(_END)
            del buf[:skipped]
            return FrameError(problem, skipped)
        self._length, self._header_end = length, end + len(_END)
        return self._body()

    def _body(self) -> Frame | FrameError | None:
        assert self._length is not None
        start, length = self._header_end, self._length
        available = bytes(self._buf[start : start + length])
        cut = _NEXT_FRAME.search(available)
        if cut is not None:  # the length overshoots: the next frame's header is inside it
            skipped = start + cut.start()
            del self._buf[:skipped]
            self._length = None
            return FrameError(f"Content-Length {length} is longer than the message (the next header came after "
                              f"{cut.start()} bytes)", skipped)
        if len(available) < length:
            return None
        del self._buf[: start + length]
        self._length = None
        return Frame(available)

    def _skip_to_next_header(self, start: int) -> object | None:
        """Drop bytes up to the next `Content-Length` header, keeping a tail that may be its start
        (counted in _garbage, reported when the next header is found)."""
        match = _LENGTH.search(self._buf, start)
        if match is not None:
            skipped = match.start()
        else:
            tail = len("content-length")
            cut = self._buf.lower().rfind(b"c", max(0, len(self._buf) - tail))
            skipped = cut if cut >= 0 and _HEADER_START.startswith(bytes(self._buf[cut:cut + 8]).lower()) \
                else len(self._buf)
        if skipped == 0:
            return None
        del self._buf[:skipped]
        self._garbage += skipped
        return _SKIPPED
