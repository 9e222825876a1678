#!/usr/bin/env bash
# Builds the results viewer into wasm/www/pkg/ (sqlora_viewer.js + sqlora_viewer_bg.wasm), which
# `sqlora view` serves beside wasm/www/index.html. Needs the wasm32-unknown-unknown target and
# wasm-bindgen-cli 0.2.130 (the version wasm-bindgen is pinned to in Cargo.toml); .ci/run installs
# both. Prints the bundle's size, raw and gzip-compressed.
set -euo pipefail
cd "$(dirname "$0")"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir www/pkg "$target_dir/wasm32-unknown-unknown/release/sqlora_viewer.wasm"
for f in www/pkg/sqlora_viewer_bg.wasm www/pkg/sqlora_viewer.js; do
  echo "== $f: $(wc -c < "$f") bytes, $(gzip -9 -c "$f" | wc -c) gzip -9"
done
