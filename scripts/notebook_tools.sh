#!/usr/bin/env bash
# Installs what the notebooks and their tests need, skipping whatever is already there (called by
# .ci/run; safe to rerun): Jupyter's client side (nbclient, nbformat, jupyter_client, ipykernel),
# evcxr_jupyter (the Rust kernel; `cargo install --locked`, with a quick release profile: 7-12 min
# on 2 cores, about 28 min at the default one), rust-src (evcxr's completions) and the kernel's spec.
set -euo pipefail
if ! python3 -c "import nbclient, nbformat, jupyter_client, ipykernel, pyarrow" 2>/dev/null; then
  t=$SECONDS
  python3 -m pip install -q nbclient nbformat jupyter_client ipykernel pyarrow
  echo "== pip install nbclient nbformat jupyter_client ipykernel pyarrow: $((SECONDS - t)) s"
fi
if ! command -v evcxr_jupyter >/dev/null; then
  t=$SECONDS
  # --locked: a newer salsa breaks the ra_ap_* crates evcxr 0.22 builds on (docs: stack notes).
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_LTO=false \
    cargo install --locked --quiet evcxr_jupyter --version 0.22.0
  echo "== cargo install evcxr_jupyter: $((SECONDS - t)) s"
fi
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src
if ! python3 -m jupyter kernelspec list 2>/dev/null | grep -qE '^\s+rust\s'; then
  evcxr_jupyter --install
fi
