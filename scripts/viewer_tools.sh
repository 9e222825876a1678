#!/usr/bin/env bash
# Installs what the results viewer's build and tests need, skipping whatever is already there
# (called by .ci/run; safe to rerun): the wasm32 target, wasm-bindgen-cli matching wasm/Cargo.toml,
# Debian's chromium, playwright-core (npm, driving that chromium; no browser download), and
# pyarrow + duckdb for the notebook-side reading test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/wasm_tools.sh
if ! [ -x /usr/bin/chromium ]; then
  echo "== apt-get install chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! [ -d tests/browser/node_modules/playwright-core ]; then
  echo "== npm ci (playwright-core)"
  npm ci --prefix tests/browser --no-audit --no-fund
fi
if ! python3 -c "import duckdb, pyarrow" 2>/dev/null; then
  echo "== pip install duckdb pyarrow"
  python3 -m pip install -q duckdb pyarrow
fi
