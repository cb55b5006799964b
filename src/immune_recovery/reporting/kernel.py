"""The Jupyter kernel reports run on: the running interpreter, with nothing registered.

Papermill looks kernels up by name. :func:`running_interpreter_kernel` writes a kernelspec
named ``immune-recovery`` whose command is this process's own Python (``sys.executable -m
ipykernel_launcher``) into a folder of the system's temporary directory and puts that folder
first on ``JUPYTER_PATH`` for this process and the processes it starts. A plain
``pip install .`` (or ``-e .``) therefore runs ``immune-recovery report`` without
``ipykernel install``; inside the project's ``.venv`` it names the same interpreter as the
kernel ``make venv`` registers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "immune-recovery"


def kernelspec(executable: str = sys.executable) -> dict:
    """The kernelspec of a kernel that runs ``executable``; it logs errors only (its
    start-up warning that it talks over local TCP would interleave with the progress bar)."""
    return {"argv": [executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],
            "display_name": f"Python 3 ({KERNEL_NAME})", "language": "python",
            "metadata": {"debugger": False}}


def running_interpreter_kernel() -> str:
    """Make :data:`KERNEL_NAME` run this interpreter (see the module docstring); returns the
    name to give papermill."""
    tag = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"immune-recovery-kernels-{tag}"
    spec = folder / "kernels" / KERNEL_NAME / "kernel.json"
    text = json.dumps(kernelspec(), indent=1) + "\n"
    if not spec.is_file() or spec.read_text(encoding="utf-8") != text:
        spec.parent.mkdir(parents=True, exist_ok=True)
        partial = spec.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(spec)  # atomic: parallel report builds may write it at once
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(folder) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(folder), *paths])
    return KERNEL_NAME
