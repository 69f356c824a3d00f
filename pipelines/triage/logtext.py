"""Make a CI log readable and short: ANSI colours and GitHub Actions timestamps stripped, and a
long log cut to its informative parts (errors, failures, tracebacks, summaries) with each cut
stated, so neither a model nor a person reads megabytes of install output."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# GitHub Actions prefixes every line with an ISO timestamp: 2024-05-01T12:00:00.1234567Z
GHA_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z ?")
GHA_COMMAND = re.compile(r"^##\[(group|endgroup|section|command|debug)\].*$")
GHA_ERROR = re.compile(r"^##\[(error|warning)\]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

INTERESTING = re.compile(
    r"(Traceback \(most recent call last\)|^E\s|^FAILED |^ERROR |^FAIL: |^ERROR: |Error\b|error:|"
    r"^=+ .*(FAILURES|ERRORS|short test summary|failed|passed|error).* =+$|^_{3,} .* _{3,}$|"
    r"^[^\s:]+\.py:\d+(:\d+)?: |AssertionError|^Ran \d+ tests?|^FAILED \(|^Found \d+ errors?|"
    r"^\s*File \".*\", line \d+|^Process completed with exit code)", re.M)

DEFAULT_MAX_LINES = 400
CONTEXT_LINES = 6


def clean_log(text: str) -> str:
    """ANSI escapes, GitHub Actions timestamps and group markers removed; CRLF normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    for line in text.split("\n"):
        line = GHA_TIMESTAMP.sub("", ANSI.sub("", line), count=1)
        if GHA_COMMAND.match(line):
            continue
        line = GHA_ERROR.sub("", line)
        out.append(CONTROL.sub("", line))
    return "\n".join(out)


def cut_log(text: str, max_lines: int = DEFAULT_MAX_LINES) -> str:
    """Keep the lines around failures, errors, tracebacks and summaries (and the end of the log);
    every gap says how many lines were cut there."""
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text
    keep = [False] * len(lines)
    for i, line in enumerate(lines):
        if INTERESTING.search(line):
            for j in range(max(0, i - 2), min(len(lines), i + CONTEXT_LINES + 1)):
                keep[j] = True
    for j in range(max(0, len(lines) - 30), len(lines)):  # the end: summary, exit code
        keep[j] = True
    kept = [i for i, k in enumerate(keep) if k]
    if len(kept) > max_lines:  # still too long: the first and last informative parts
        half = max_lines // 2
        kept = kept[:half] + kept[-half:]
    out: list[str] = []
    prev = -1
    for i in kept:
        if i > prev + 1:
            out.append(f"[… {i - prev - 1} line(s) cut …]")
        out.append(lines[i])
        prev = i
    if prev < len(lines) - 1:
        out.append(f"[… {len(lines) - 1 - prev} line(s) cut …]")
    return f"[log cut from {len(lines)} to {len(kept)} lines: failures, errors, tracebacks and the end kept]\n" + \
        "\n".join(out)
