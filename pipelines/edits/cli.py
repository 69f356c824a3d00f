"""`baton apply-patch`: apply an apply_patch or SEARCH/REPLACE patch to a folder, all-or-nothing.

Uses the same parsing, matching and apply code as the agents' edit tools, so a patch that
works here works for them (and the other way round).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError, load_settings
from ..errors import UsageError
from .apply import apply_changeset, check_changeset
from .errors import EDIT_ERRORS
from .formats import changeset_from_patch
from .source import DirectorySource


def apply_patch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patch", nargs="?", default="-", metavar="FILE|-",
                        help="the patch file; '-' or nothing reads standard input")
    parser.add_argument("--workspace", "-w", default=".", metavar="DIR",
                        help="the folder the patch's paths are relative to (default: the current folder)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the patch applies; write nothing")


def apply_patch(args: argparse.Namespace) -> int:
    root = Path(args.workspace)
    if not root.is_dir():
        raise UsageError(f"--workspace {root}: not a directory")
    text = _read_patch(args.patch)
    try:
        excludes = load_settings(root, check_trust=False).exclude  # only the excludes are used
    except ConfigError as e:
        raise UsageError(f"cannot read the workspace settings: {e}") from None
    try:
        changeset = changeset_from_patch(text, DirectorySource(root, excludes))
        if args.check:
            stats = check_changeset(root, changeset, excludes=excludes)
        else:
            stats = apply_changeset(root, changeset, excludes=excludes)
    except EDIT_ERRORS as e:
        print(f"baton apply-patch: error: {e}", file=sys.stderr)
        print("baton apply-patch: nothing was written", file=sys.stderr)
        return 1
    if not stats.files:
        print("nothing to change: the files already have that content")
        return 0
    print(stats.render())
    for note in changeset.notes:  # an edit placed by a fallback: say where, so a person can check it
        print(f"note: {note}")
    if args.check:
        print("check: the patch applies cleanly (nothing was written)")
    return 0


def _read_patch(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read the patch {name}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the patch {'on standard input' if name == '-' else name} is not UTF-8 text") from None
