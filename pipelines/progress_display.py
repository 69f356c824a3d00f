"""Run progress for the terminal: a live status line on a TTY, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .events import Event, EventType


class PlainDisplay:
    """One line per meaningful event; good in CI logs."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, ev: Event) -> None:
        t = ev.type
        if t is EventType.run_started:
            self._line(f"run {ev.run_id} started: {ev.message.splitlines()[0][:100]}")
        elif t is EventType.step_started:
            self._line(f"{ev.step}: started")
        elif t is EventType.step_finished:
            d = ev.data
            self._line(f"{ev.step}: {d.get('status')} ({d.get('duration_s', 0):.1f}s)"
                       + (f" — {d['error']}" if d.get("error") else ""))
        elif t is EventType.tool_call and not ev.data.get("ok", True):
            self._line(f"{ev.step or ev.role}: tool {ev.data.get('name')} refused: {str(ev.data.get('error', ''))[:120]}")
        elif t is EventType.retry:
            self._line(f"retrying model call: {ev.message or ev.data.get('cause', '')}")
        elif t is EventType.handoff:
            self._line(f"wrote {ev.data.get('artifact')}")
        elif t is EventType.log and ev.data.get("warning"):
            self._line(f"warning: {ev.message}")
        elif t is EventType.log:
            self._line(ev.message[:200])
        elif t is EventType.run_finished:
            self._line(f"run finished: {ev.message}")

    def close(self) -> None:
        pass


class LiveDisplay(PlainDisplay):
    """Finished steps as lines, the running step as a spinner line rewritten in place."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.current: str | None = None
        self.detail = ""
        self.frame = 0

    def _status(self) -> None:
        if self.current is None:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        text = f"{self.FRAMES[self.frame]} {self.current} {self.detail}"[:100]
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()

    def _line(self, text: str) -> None:
        self.stream.write("\r\x1b[2K")
        super()._line(text)
        self._status()

    def __call__(self, ev: Event) -> None:
        if ev.type is EventType.step_started:
            self.current, self.detail = ev.step, ""
        elif ev.type is EventType.step_finished:
            self.current = None
        elif ev.type is EventType.tool_call:
            self.detail = f"· {ev.data.get('name', '')}"
        elif ev.type is EventType.llm_call:
            self.detail = f"· {ev.data.get('model', '')} answered"
        super().__call__(ev)
        if ev.type in (EventType.tool_call, EventType.llm_call):
            self._status()

    def close(self) -> None:
        self.stream.write("\r\x1b[2K")
        self.stream.flush()


class NullDisplay:
    """Quiet: only warnings (an unconfined run says so every time), on stderr."""

    def __call__(self, ev: Event) -> None:
        if ev.type is EventType.log and ev.data.get("warning"):
            print(f"warning: {ev.message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def make_display(*, quiet: bool, stream: TextIO = sys.stderr) -> PlainDisplay | NullDisplay:
    if quiet:
        return NullDisplay()
    return LiveDisplay(stream) if stream.isatty() else PlainDisplay(stream)
