#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, the newest that runs on Node 20) from npm into
# a cache folder, for the e2e test in tests/e2e/test_vscode_e2e.py. Idempotent and offline-safe
# after the first run: it does nothing when the right version is already there.
#
#   client-vscode/scripts/install-code-server.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $BATON_E2E_CACHE, else client-vscode/.e2e (gitignored). The binary ends
# up at CACHE_DIR/code-server/node_modules/.bin/code-server.
#
# Needs: node 20 + npm, and Debian packages libkrb5-dev build-essential ripgrep (code-server
# builds a native module; its @vscode/ripgrep would download rg from GitHub, so its download
# cache is pre-seeded with Debian's rg). Chromium for the test itself: apt-get install chromium.
set -euo pipefail

VERSION=4.100.3
RIPGREP_PKG_VERSION=1.15.11   # @vscode/ripgrep version code-server 4.100.3 depends on
RIPGREP_TARBALL=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-${BATON_E2E_CACHE:-$here/.e2e}}"
prefix="$cache/code-server"
bin="$prefix/node_modules/.bin/code-server"
# code-server writes a default config on first start; keep it in the cache, not in ~/.config.
export XDG_CONFIG_HOME="$cache/config"

if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "^$VERSION "; then
    echo "code-server $VERSION already installed: $bin"
    exit 0
fi

missing=()
for tool in node npm rg make g++; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ! -e /usr/include/gssapi/gssapi.h && ! -e /usr/include/gssapi.h ]]; then
    missing+=("libkrb5-dev (gssapi headers)")
fi
if (( ${#missing[@]} )); then
    echo "install-code-server: missing ${missing[*]}." >&2
    echo "  On Debian/Ubuntu: apt-get install -y nodejs npm ripgrep build-essential libkrb5-dev" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" != "20" ]]; then
    echo "install-code-server: code-server $VERSION needs Node 20 (this is Node $(node --version))." >&2
    exit 1
fi

# Pre-seed @vscode/ripgrep's download cache with Debian's rg so its postinstall stays offline.
tmp="${TMPDIR:-/tmp}"
rg_cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
if [[ ! -s "$rg_cache/$RIPGREP_TARBALL" ]]; then
    mkdir -p "$rg_cache"
    staging="$(mktemp -d)"
    cp "$(command -v rg)" "$staging/rg"
    tar -czf "$rg_cache/$RIPGREP_TARBALL" -C "$staging" rg
    rm -rf "$staging"
fi

mkdir -p "$prefix"
[[ -f "$prefix/package.json" ]] || echo '{"name":"baton-e2e-code-server","private":true}' > "$prefix/package.json"
echo "Installing code-server $VERSION into $prefix (about a minute)…"
(
    cd "$prefix"
    npm_config_yes=true npm_config_unsafe_perm=true \
        npm install --no-audit --no-fund --loglevel=error "code-server@$VERSION"
)
"$bin" --version | grep "^$VERSION " || { echo "install-code-server: $bin does not report $VERSION" >&2; exit 1; }
echo "code-server installed: $bin"
