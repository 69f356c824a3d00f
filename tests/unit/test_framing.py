"""The LSP frame reader: good frames pass whole however the bytes are split; every kind of bad
frame is reported once and the next good frame is read."""

from __future__ import annotations

import pytest

from baton.server.framing import Frame, FrameError, FrameReader


def frame(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"Content-Length: %d\r\n%s\r\n" % (len(body), extra) + body


def read(data: bytes, chunk: int | None = None, max_body: int = 1 << 20) -> list[Frame | FrameError]:
    reader = FrameReader(max_body=max_body)
    if chunk is None:
        return reader.feed(data)
    out: list[Frame | FrameError] = []
    for i in range(0, len(data), chunk):
        out += reader.feed(data[i:i + chunk])
    return out


GOOD = [b'{"id":1}', "{\"t\":\"caf\u00e9 \u2014 \u4e2d\"}".encode(), b'{"id":3}']


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_good_frames_in_any_split(chunk: int | None) -> None:
    data = frame(GOOD[0]) + frame(GOOD[1], extra=b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n") \
        + frame(GOOD[2])
    assert read(data, chunk) == [Frame(b) for b in GOOD]


BAD = {
    "garbage": (b"\x00\xffhello\r\n\r\n", "11 byte(s) that are not an LSP header"),
    "non-numeric": (b"Content-Length: abc\r\n\r\n", "Content-Length 'abc' is not a number"),
    "negative": (b"Content-Length: -5\r\n\r\n", "Content-Length '-5' is not a number"),
    "no length": (b"Content-Type: x\r\n\r\n", "a header without Content-Length"),
    "no colon": (b"Content-Length 5\r\n\r\n", "a header line without a colon ('Content-Length 5')"),
    "too long": (b"Content-Length: 999\r\n\r\n{\"a\":", "Content-Length 999 is longer than the message "
                 "(the next header came after 5 bytes)"),
    "over the limit": (b"Content-Length: 99999999\r\n\r\n", "Content-Length 99999999 is larger than the "
                       "1048576-byte limit"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("chunk", [None, 1])
def test_a_bad_frame_is_reported_and_the_next_one_read(case: str, chunk: int | None) -> None:
    bad, reason = BAD[case]
    items = read(frame(GOOD[0]) + bad + frame(GOOD[2]), chunk)
    assert items[0] == Frame(GOOD[0]) and items[-1] == Frame(GOOD[2])
    errors = [i for i in items[1:-1] if isinstance(i, FrameError)]
    assert errors and errors[0].reason == reason
    assert all(isinstance(i, FrameError) for i in items[1:-1])


def test_a_short_length_leaves_the_rest_as_garbage_until_the_next_header() -> None:
    items = read(b"Content-Length: 3\r\n\r\n" + GOOD[0] + frame(GOOD[2]))
    assert items == [Frame(GOOD[0][:3]), FrameError("5 byte(s) that are not an LSP header", 5), Frame(GOOD[2])]


def test_a_header_that_never_ends_is_skipped() -> None:
    items = read(b"Content-Type: " + b"x" * 9000 + frame(GOOD[0]))
    assert items[-1] == Frame(GOOD[0]) and isinstance(items[0], FrameError)


def test_pending_counts_what_eof_would_cut_off() -> None:
    reader = FrameReader()
    assert reader.feed(b"Content-Length: 10\r\n\r\n{\"a\"") == []
    assert reader.pending() == 26
