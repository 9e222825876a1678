#!/usr/bin/env bash
# peft loads the adapters sqlora writes (tests/adapters/test_peft_load.py).
# Uses (or creates) a venv with torch (CPU), transformers and peft, installing the pinned
# requirements when they changed, and runs pytest.
#   SQLORA_PROBE    the save_peft_probe example binary (default: target/release/examples/save_peft_probe)
#   SQLORA_PEFTENV  the venv (default: /opt/peftenv)
#   SQLORA_PEFT_PYTHON  a Python that already has torch, transformers, peft and safetensors (then nothing
#                   is installed; without pytest the test runs as a plain script)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
probe="${SQLORA_PROBE:-$repo/target/release/examples/save_peft_probe}"
if [ ! -x "$probe" ]; then
    echo "save_peft_probe not found at $probe: run 'cargo build --release --workspace --all-targets' or set SQLORA_PROBE" >&2
    exit 1
fi
export SQLORA_PROBE="$probe" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ -n "${SQLORA_PEFT_PYTHON:-}" ]; then
    py="$SQLORA_PEFT_PYTHON"
else
    venv="${SQLORA_PEFTENV:-/opt/peftenv}"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    stamp="$venv/.sqlora-requirements.sha256"
    want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        # The CPU wheel of torch (~200 MB) where its index is reachable, else PyPI's default build.
        extra=()
        if curl -s -o /dev/null --max-time 5 https://download.pytorch.org/whl/cpu/torch/; then
            extra=(--extra-index-url https://download.pytorch.org/whl/cpu)
        fi
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${extra[@]}" -r "$here/requirements.txt"
        echo "$want" > "$stamp"
    fi
    py="$venv/bin/python"
fi
cd "$here"
if "$py" -c "import pytest" 2>/dev/null; then
    exec "$py" -m pytest -q -p no:cacheprovider "$@" test_peft_load.py
fi
exec "$py" test_peft_load.py
