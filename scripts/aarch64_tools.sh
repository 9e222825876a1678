#!/usr/bin/env bash
# Installs what scripts/test_aarch64.sh needs, if missing: the Rust aarch64 target, the cross linker and
# libc, and qemu-user to run the test binaries (correctness only: no speed from an emulator).
set -euo pipefail
if ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
  rustup target add aarch64-unknown-linux-gnu
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
