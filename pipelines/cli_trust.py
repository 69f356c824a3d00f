"""`baton trust`: let a workspace's own settings send the key or run a command.

`baton trust [--workspace DIR]` shows the settings of DIR's baton.toml / [tool.baton] that
need trust and records DIR with a hash of exactly those values (trust.py); a later change to
any of them asks again. `--list` shows every trusted workspace and whether its settings still
match; `--revoke` forgets one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .config import ConfigError, workspace_file_settings
from .errors import UsageError
from .redact import redact
from .trust import (
    SENSITIVE_KEYS,
    TrustError,
    TrustStore,
    fingerprint,
    sensitive_values,
    workspace_key,
)


def trust_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", "-w", default=".", help="workspace root (default: current directory)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list trusted workspaces and whether their settings changed")
    what.add_argument("--revoke", action="store_true", help="stop trusting the workspace")


def trust(args: argparse.Namespace) -> int:
    store = TrustStore.for_env(os.environ)
    try:
        if args.list:
            return _list(store)
        ws = Path(args.workspace).expanduser()
        if not ws.is_dir():
            raise UsageError(f"--workspace {args.workspace}: not a directory")
        ws = ws.resolve()
        if args.revoke:
            removed = store.revoke(ws)
            print(f"{ws}: no longer trusted" if removed else f"{ws}: was not trusted; nothing to revoke")
            return 0
        return _grant(store, ws)
    except (ConfigError, TrustError) as e:
        raise UsageError(str(e)) from None


def _grant(store: TrustStore, ws: Path) -> int:
    data, source = workspace_file_settings(ws)
    values = sensitive_values(data)
    if not values:
        where = source or f"{ws} (no baton.toml or [tool.baton])"
        print(f"nothing to trust: {where} sets none of {', '.join(SENSITIVE_KEYS)} or roles.*.base_url; "
              "its other settings apply without trust")
        return 0
    assert source is not None
    store.grant(ws, values, source)
    print(f"trusted {ws}: these settings from {source} now take effect:")
    for key in sorted(values):
        print(f"  {key} = {redact(repr(values[key]))}")
    print(f"recorded in {store.path}; a change to any of them asks again. "
          f"Undo with `baton trust --revoke --workspace {ws}`.")
    return 0


def _list(store: TrustStore) -> int:
    records = store.load().workspaces
    if not records:
        print("no trusted workspaces" + (f" (in {store.path})" if store.path else ""))
        return 0
    for ws, rec in sorted(records.items()):
        path = Path(ws)
        if not path.is_dir():
            state = "folder gone"
        else:
            try:
                data, _ = workspace_file_settings(path)
                same = fingerprint(sensitive_values(data)) == rec.sha256
                state = "trusted" if same else "changed since trusted: run `baton trust` there again"
            except ConfigError as e:
                state = f"settings unreadable ({e})"
        print(f"{workspace_key(ws)}  {state}  [{', '.join(rec.settings)}] since {rec.trusted_at}")
    return 0
