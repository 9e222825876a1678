#!/usr/bin/env python3
"""Executes the phase notebooks headless (nbclient) in order and checks what they must show.

    python3 notebooks/execute.py [--size ci|laptop|full] [--colab] [--write] [fase-01 ...]

--size      ci (CI's smoke size, the default here), laptop (the notebooks' own defaults) or full;
            sets SQLORA_NOTEBOOK_SIZE for the kernel (full is the settings cell's `full = true`).
--colab     the Colab editions (notebooks/colab/), under a plain python3 kernel and the %%rust magic.
--write     write the executed notebooks back with their outputs (how the committed outputs are
            refreshed: `python3 notebooks/execute.py --size laptop --write`).

A notebook fails when a cell errors, when the results files its phase writes are missing or empty,
or when its rich outputs (HTML tables, SVG charts) are not there. evcxr builds the library once into
EVCXR_TMPDIR (default /var/tmp/sqlora-evcxr), shared by every notebook and run. (Not under /root:
on the machines this was built on, evcxr's dlopen of its cell libraries fails there.)
"""
import argparse
import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAMES = ["fase-01", "fase-02", "fase-03", "fase-04"]

# What each phase writes (relative to the size's results folder) and how many rich outputs of each
# kind it shows at least: (html tables, svg charts).
WRITES = {
    "fase-01": ["spider_predictions.parquet", "runs.parquet"],
    "fase-02": ["adapters/*/train_log.parquet"],
    "fase-03": ["spider_predictions.parquet", "runs.parquet"],
    "fase-04": ["mmlu_answers.parquet"],
}
SHOWS = {"fase-01": (3, 0), "fase-02": (0, 1), "fase-03": (5, 0), "fase-04": (1, 2)}


def rows(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def rich_outputs(nb):
    html = svg = 0
    for c in nb.cells:
        for o in c.get("outputs", []):
            h = o.get("data", {}).get("text/html", "")
            if isinstance(h, list):
                h = "".join(h)
            html += h.count("<table")
            svg += h.count("<svg")
            if o.get("data") and "text/plain" not in o["data"]:
                raise AssertionError("a rich output without its text/plain twin")
    return html, svg


def check(name, nb, results):
    problems = []
    for pattern in WRITES[name]:
        found = glob.glob(os.path.join(results, pattern))
        if not found:
            problems.append(f"no {pattern} in {results}")
        for f in found:
            if rows(f) == 0:
                problems.append(f"{f} has no rows")
    html, svg = rich_outputs(nb)
    want_html, want_svg = SHOWS[name]
    if html < want_html or svg < want_svg:
        problems.append(f"shows {html} HTML tables and {svg} SVG charts, expected at least {want_html} and {want_svg}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["ci", "laptop", "full"], default="ci")
    ap.add_argument("--colab", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("names", nargs="*", default=NAMES)
    a = ap.parse_args()
    os.environ.setdefault("EVCXR_TMPDIR", "/var/tmp/sqlora-evcxr")
    os.makedirs(os.environ["EVCXR_TMPDIR"], exist_ok=True)
    if a.size == "ci":
        os.environ["SQLORA_NOTEBOOK_SIZE"] = "ci"
    else:
        os.environ.pop("SQLORA_NOTEBOOK_SIZE", None)
    # The Colab setup cell finds the project here instead of cloning it (everything else as on Colab).
    os.environ["SQLORA_REPO"] = ROOT
    results = os.path.join(os.environ.get("SQLORA_NOTEBOOK_RESULTS", os.path.join(ROOT, "results", "notebooks")), a.size)
    folder = os.path.join(HERE, "colab") if a.colab else HERE
    failed = []
    for name in a.names:
        path = os.path.join(folder, f"{name}.ipynb")
        nb = nbformat.read(path, as_version=4)
        if a.size == "full":
            for c in nb.cells:
                if c.cell_type == "code" and "let full = false;" in c.source:
                    c.source = c.source.replace("let full = false;", "let full = true;")
        kernel = "python3" if a.colab else "rust"
        t = time.time()
        print(f"== {os.path.relpath(path, ROOT)} ({kernel} kernel, size {a.size})", flush=True)
        client = NotebookClient(nb, timeout=None, kernel_name=kernel, resources={"metadata": {"path": HERE}})
        try:
            client.execute()
            problems = check(name, nb, results)
        except CellExecutionError as e:
            problems = [f"a cell failed:\n{str(e)[-3000:]}"]
        except AssertionError as e:
            problems = [str(e)]
        print(f"== {name}: {time.time() - t:.0f} s, {'ok' if not problems else 'FAILED'}", flush=True)
        for p in problems:
            print(f"   {p}", flush=True)
        if problems:
            failed.append(name)
        if a.write and not problems:
            if a.size == "full":
                for c in nb.cells:
                    if c.cell_type == "code":
                        c.source = c.source.replace("let full = true;", "let full = false;")
            for c in nb.cells:
                c.metadata.pop("execution", None)
            nbformat.write(nb, path)
    if failed:
        sys.exit(f"notebooks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
