#!/usr/bin/env bash
# The style gates (.ci/run runs them before the tests): rustfmt over every crate, clippy with warnings
# as errors over the workspace's every target (with and without the GPU's `cuda` feature) and over the
# wasm viewer (target wasm32).
set -euo pipefail
cd "$(dirname "$0")/.."
for c in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done
echo "== cargo fmt --check"
cargo fmt --all --check
cargo fmt --all --check --manifest-path wasm/Cargo.toml
echo "== cargo clippy -D warnings"
# In the release profile: the tests' release build then reuses its build-script runs (the bundled
# SQLite's C compile, about a minute) and proc-macro crates instead of making them twice.
cargo clippy --release --workspace --all-targets -- -D warnings
# The real-GPU device (feature cuda, cudarc) is compiled only in this build: lint it too.
cargo clippy --release --workspace --all-targets --features sqlora-gpu/cuda -- -D warnings
cargo clippy --manifest-path wasm/Cargo.toml --target wasm32-unknown-unknown -- -D warnings
