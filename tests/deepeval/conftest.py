"""Loaded by pytest before the test modules: DeepEval must not phone home (set before it is imported)."""
import os
import sys

os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "YES")
os.environ.setdefault("DEEPEVAL_UPDATE_WARNING_OPT_IN", "NO")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
