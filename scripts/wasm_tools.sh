#!/usr/bin/env bash
# Installs what building the results viewer's page needs, if missing: the wasm32 target and
# wasm-bindgen-cli at the version wasm/Cargo.toml pins (about 6 minutes on 2 cores, once).
# Called by scripts/main.sh (the main job builds the page `sqlora view` serves) and by
# scripts/viewer_tools.sh (CI).
set -euo pipefail
WASM_BINDGEN_VERSION=0.2.130
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "== rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  echo "== cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes on 2 cores)"
  # Without --locked: its lock file pins crates that no longer build with this toolchain.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
