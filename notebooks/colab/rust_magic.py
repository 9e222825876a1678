"""The `%%rust` cell magic: runs a cell on an evcxr (Rust) kernel from a Python notebook.

Colab starts only Python kernels, so the Colab editions of the phase notebooks send each Rust cell
to an `evcxr_jupyter` kernel started once per notebook (the route evcxr's own Colab tour takes) and
show what comes back as if the cell had run here: printed lines as they arrive, rich outputs (HTML
tables, SVG charts) with their text twin, and a Rust error as a failed cell.

    %load_ext rust_magic        (with notebooks/colab on sys.path)
    %%rust
    let x = 1 + 2;
    x

The kernel starts in the project's notebooks/ folder, so `:dep sqlora = { path = ".." }` resolves
as in the Rust editions; EVCXR_TMPDIR (default /var/tmp/sqlora-evcxr) keeps its builds between
kernels.
"""
import atexit
import os
import queue
import sys

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.display import publish_display_data

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.dirname(HERE)


class RustCellError(Exception):
    """A Rust cell failed (compile error, `?` on an error, a panic)."""


class RustKernel:
    """One evcxr kernel, started on first use."""

    def __init__(self, kernel_name="rust", cwd=NOTEBOOKS):
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.km = None
        self.kc = None

    def start(self):
        from jupyter_client.manager import KernelManager

        os.environ.setdefault("EVCXR_TMPDIR", "/var/tmp/sqlora-evcxr")
        os.makedirs(os.environ["EVCXR_TMPDIR"], exist_ok=True)
        self.km = KernelManager(kernel_name=self.kernel_name)
        self.km.start_kernel(cwd=self.cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        # The kernel is a process of its own: without this it outlives the notebook (CI found four of
        # them after a run, each polling at a few % of a core).
        atexit.register(self.shutdown)

    def shutdown(self):
        """Stops the kernel and its process group (at exit; harmless when it never started)."""
        if self.km is not None:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            self.km = self.kc = None

    def run(self, code, out=None):
        """Runs `code`; relays its outputs through `out(kind, payload)`; raises on error."""
        if self.kc is None:
            self.start()
        out = out or relay
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        error = None
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=3600)
            except queue.Empty:
                raise RustCellError("no output from the Rust kernel for an hour")
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream":
                out("stream", content)
            elif kind in ("display_data", "execute_result"):
                out("display", content)
            elif kind == "error":
                error = content
        reply = self.kc.get_shell_msg(timeout=60)
        if error is None and reply["content"].get("status") == "error":
            error = reply["content"]
        if error is not None:
            text = "\n".join(error.get("traceback") or [f"{error.get('ename')}: {error.get('evalue')}"])
            raise RustCellError(text)

    def shutdown(self):
        if self.km is not None:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            self.km = self.kc = None


def relay(kind, content):
    """Shows one output of the Rust kernel in this (Python) notebook."""
    if kind == "stream":
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content["text"])
        stream.flush()
    else:
        publish_display_data(content.get("data", {}), content.get("metadata", {}))


@magics_class
class RustMagics(Magics):
    def __init__(self, shell, kernel=None):
        super().__init__(shell)
        self.kernel = kernel or RustKernel()

    @cell_magic
    def rust(self, line, cell):
        """Runs the cell on the evcxr kernel."""
        try:
            self.kernel.run(cell)
        except RustCellError as e:
            # Shown as the cell's error, so "run all" stops here as it would on the Rust kernel.
            raise RustCellError(str(e)) from None


_magics = None


def load_ipython_extension(ipython):
    global _magics
    _magics = RustMagics(ipython)
    ipython.register_magics(_magics)


def unload_ipython_extension(ipython):
    if _magics is not None:
        _magics.kernel.shutdown()
