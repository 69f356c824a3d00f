"""`python -m baton.server` / `baton-lsp`: the language server over stdio (or --tcp for debugging)."""

from __future__ import annotations

import argparse
import sys

from baton.pipelines import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baton-lsp", description="Baton language server")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    parser.add_argument("--log-level", default="INFO", help="server log level (default INFO)")
    args = parser.parse_args(argv)
    if args.version:
        print(f"baton-lsp {__version__}")
        return 0
    from .server import run_server  # imported late: --version must be instant

    return run_server(tcp=args.tcp, log_level=args.log_level)


if __name__ == "__main__":
    sys.exit(main())
