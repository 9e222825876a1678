"""DeepEval over a Spider predictions file: one `assert_test` per row with sqlora's ExecutionAccuracy.

Rows whose recorded verdict is 0 (`expect_official`, else `ex_official` of a scored file) are
xfail(strict=True): they must fail, and a pass is an error. The file is SQLORA_PREDICTIONS (JSONL, or
a results folder's spider_predictions.parquet; SQLORA_RUN keeps one run_id's rows), default the
committed fixture; the binary is SQLORA_BIN.
"""
import json
import os

import pytest
from deepeval import assert_test
from deepeval.test_case import LLMTestCase

from sqlora_metric import ExecutionAccuracy, SqloraScorer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PREDICTIONS = os.environ.get("SQLORA_PREDICTIONS", os.path.join(REPO, "tests/fixtures/spider/wrong_predictions.jsonl"))
BINARY = os.environ.get("SQLORA_BIN", os.path.join(REPO, "target/release/sqlora"))


def load_rows(path, run=None):
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    if run:
        rows = [r for r in rows if r.get("run_id") == run]
        if not rows:
            raise SystemExit(f"{path}: no rows of run {run!r}")
    return rows


def recorded(row):
    for k in ("expect_official", "ex_official"):
        if row.get(k) is not None:
            return int(row[k])
    return None


def param(i, row):
    verdict = recorded(row)
    marks = []
    if verdict is None:
        marks.append(pytest.mark.skip(reason="no recorded verdict (not scored)"))
    elif verdict == 0:
        marks.append(pytest.mark.xfail(strict=True, reason=row.get("note") or "recorded verdict 0"))
    return pytest.param(row, id=f"{i}-{row.get('id', i)}-{row['db_id']}", marks=marks)


ROWS = load_rows(PREDICTIONS, os.environ.get("SQLORA_RUN"))


@pytest.fixture(scope="session")
def scorer():
    s = SqloraScorer(BINARY, data_dir=os.environ.get("SQLORA_DATA"))
    s.score_batch(ROWS)  # one CLI call for the whole file; each test reads the cache
    return s


@pytest.mark.parametrize("row", [param(i, r) for i, r in enumerate(ROWS)])
def test_execution_accuracy(row, scorer):
    case = LLMTestCase(
        input=row.get("question", ""),
        actual_output=row.get("predicted") or "",
        expected_output=row["gold"],
        metadata={"db_id": row["db_id"]},
    )
    assert_test(case, [ExecutionAccuracy(scorer)], run_async=False)


def test_batch_needs_one_cli_call(scorer):
    for r in ROWS:
        scorer.result(r["db_id"], r["gold"], r.get("predicted") or "")
    assert scorer.calls == 1


def test_seed_mode_and_reason(scorer):
    row = next((r for r in ROWS if r.get("expect_seed") == 0 and r.get("expect_official") == 1), None)
    if row is None:
        pytest.skip("no row where only the official mode matches (the committed fixture has some)")
    case = LLMTestCase(input="", actual_output=row["predicted"], expected_output=row["gold"],
                       metadata={"db_id": row["db_id"]})
    seed = ExecutionAccuracy(scorer, mode="seed")
    assert seed.measure(case) == 0.0 and not seed.is_successful()
    official = ExecutionAccuracy(scorer)
    assert official.measure(case) == 1.0 and official.is_successful()
    assert "seed=0, official=1" in official.reason
