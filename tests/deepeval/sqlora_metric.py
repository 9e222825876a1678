"""DeepEval's BaseMetric over sqlora's Rust execution-accuracy scorer.

The Python side only moves data: rows go to `sqlora score` as one JSONL batch, the verdicts come
back per row and are cached, and `ExecutionAccuracy.measure` reads the cache. All the semantics
(read-only databases, time limit, seed and official modes) live in the Rust scorer.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Dict, Iterable, Optional, Tuple

os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "YES")  # also set in conftest.py, for direct imports

from deepeval.metrics import BaseMetric  # noqa: E402
from deepeval.test_case import LLMTestCase  # noqa: E402

Key = Tuple[str, str, str]


class SqloraScorer:
    """Runs `sqlora score` on batches of (db_id, gold, predicted) and caches every verdict."""

    def __init__(self, binary: str, data_dir: Optional[str] = None, timeout_s: float = 30.0):
        if not os.path.isfile(binary):
            raise FileNotFoundError(f"sqlora binary not found at {binary} (build it: cargo build --release)")
        self.binary = binary
        self.data_dir = data_dir
        self.timeout_s = timeout_s
        self.cache: Dict[Key, dict] = {}
        self.calls = 0  # how many times the CLI ran: a batch should need one

    @staticmethod
    def key(db_id: str, gold: str, predicted: str) -> Key:
        return (db_id, gold, predicted)

    def score_batch(self, rows: Iterable[dict]) -> None:
        """Score every row not yet cached, in one CLI call."""
        todo = {}
        for r in rows:
            k = self.key(r["db_id"], r["gold"], r.get("predicted") or "")
            if k not in self.cache:
                todo[k] = {"db_id": k[0], "gold": k[1], "predicted": k[2]}
        if not todo:
            return
        with tempfile.TemporaryDirectory() as tmp:
            src, out = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
            with open(src, "w") as f:
                for row in todo.values():
                    f.write(json.dumps(row) + "\n")
            cmd = [self.binary, "score", "--predictions", src, "--out", out, "--timeout-s", str(self.timeout_s)]
            if self.data_dir:
                cmd += ["--data-dir", self.data_dir]
            done = subprocess.run(cmd, capture_output=True, text=True)
            self.calls += 1
            if done.returncode != 0:
                raise RuntimeError(f"sqlora score failed ({done.returncode}): {done.stderr.strip()}")
            with open(out) as f:
                for k, line in zip(todo, f):
                    self.cache[k] = json.loads(line)

    def result(self, db_id: str, gold: str, predicted: str) -> dict:
        k = self.key(db_id, gold, predicted or "")
        if k not in self.cache:
            self.score_batch([{"db_id": db_id, "gold": gold, "predicted": predicted}])
        return self.cache[k]


class ExecutionAccuracy(BaseMetric):
    """1.0 when the predicted SQL returns the gold SQL's result on the test case's database.

    The test case carries the question as `input`, the predicted SQL as `actual_output`, the gold
    SQL as `expected_output` and the database as `metadata["db_id"]`.
    """

    def __init__(self, scorer: SqloraScorer, mode: str = "official", threshold: float = 1.0):
        if mode not in ("official", "seed"):
            raise ValueError(f"mode must be 'official' or 'seed', not {mode!r}")
        self.scorer = scorer
        self.mode = mode
        self.threshold = threshold
        self.include_reason = True
        self.async_mode = False
        self.strict_mode = False

    def measure(self, test_case: LLMTestCase, *args, **kwargs) -> float:
        db_id = (test_case.metadata or {}).get("db_id")
        if not db_id or test_case.expected_output is None:
            raise ValueError("ExecutionAccuracy needs metadata['db_id'] and expected_output (gold SQL)")
        r = self.scorer.result(db_id, test_case.expected_output, test_case.actual_output or "")
        verdict = r.get(f"ex_{self.mode}")
        self.score = 1.0 if verdict == 1 else 0.0
        self.success = self.score >= self.threshold
        both = f"seed={r.get('ex_seed')}, official={r.get('ex_official')}"
        self.reason = f"{both}; {r['error']}" if r.get("error") else both
        return self.score

    async def a_measure(self, test_case: LLMTestCase, *args, **kwargs) -> float:
        return self.measure(test_case, *args, **kwargs)

    def is_successful(self) -> bool:
        return bool(self.success)

    @property
    def __name__(self):
        return "Execution Accuracy"
