#!/usr/bin/env bash
# CI for the VS Code extension: install, type-check, lint, unit + integration tests, bundle,
# package the .vsix, and install code-server for the e2e test (tests/e2e/test_vscode_e2e.py,
# run by the repository's pytest). Called by .ci/run; also fine to run by hand.
#
#   client-vscode/scripts/ci.sh            # from anywhere
#   BATON_PYTHON=/path/to/python ...       # the Python with baton-lsp (default: ../.venv/bin/python)
#   BATON_E2E_CACHE=/path/to/cache ...     # where code-server goes (default: client-vscode/.e2e)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export CI="${CI:-true}"
export BATON_PYTHON="${BATON_PYTHON:-$here/../.venv/bin/python}"

step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund

step "type-check and lint"
npm run check-types
npm run lint

step "unit tests"
npm test

step "integration test (real baton.server + scripted model)"
npm run test:integration

step "package"
npm run package
ls -l ./*.vsix

step "code-server for the e2e test"
scripts/install-code-server.sh "${BATON_E2E_CACHE:-$here/.e2e}"
