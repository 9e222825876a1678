#!/usr/bin/env bash
# DeepEval + pytest over sqlora's execution-accuracy scorer.
# Uses (or creates) a venv, installs the pinned requirements when they changed, and runs pytest.
#
#   bash tests/deepeval/run.sh                              the committed 34-row fixture
#   bash tests/deepeval/run.sh --results DIR [--run RUN_ID] a whole run's predictions from
#                                                           DIR/spider_predictions.parquet (every run
#                                                           in it without --run; `sqlora baseline` and
#                                                           `evaluate` print the run id)
# Other arguments go to pytest. Environment:
#   SQLORA_BIN          the sqlora binary (default: target/release/sqlora in this repository)
#   SQLORA_EVALENV      the venv (default: /opt/evalenv)
#   SQLORA_PREDICTIONS  predictions file, .jsonl or .parquet (what --results sets)
#   SQLORA_RUN          only this run_id's rows of it (what --run sets)
#   SQLORA_DATA         data directory (default: the binary's own resolution, ../shared/data)
set -euo pipefail
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --results) export SQLORA_PREDICTIONS="$(cd "$2" && pwd)/spider_predictions.parquet"; shift 2 ;;
        --run) export SQLORA_RUN="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) pytest_args+=("$1"); shift ;;
    esac
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SQLORA_EVALENV:-/opt/evalenv}"
bin="${SQLORA_BIN:-$repo/target/release/sqlora}"
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
if [ ! -x "$bin" ]; then
    echo "sqlora binary not found at $bin: run 'cargo build --release' or set SQLORA_BIN" >&2
    exit 1
fi
export SQLORA_BIN="$bin"
# DeepEval must not phone home; it also keeps its cache and results in .deepeval/ of the cwd.
export DEEPEVAL_TELEMETRY_OPT_OUT=YES DEEPEVAL_UPDATE_WARNING_OPT_IN=NO
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
stamp="$venv/.sqlora-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi
cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider ${pytest_args[@]+"${pytest_args[@]}"} test_spider_exec.py
