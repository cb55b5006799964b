"""pytest plugin for the nbval run (``-p tests.nbval_kernel_retry``): a notebook's kernel that
died at start is started again, as the report build does.

Kernels started in parallel (nbval on several xdist workers) can pick the same free TCP port;
the loser dies before it answers ``kernel_info``. That is a failure to start, not a difference
in a notebook's outputs, so it is retried up to
:data:`immune_recovery.reporting.build.KERNEL_START_ATTEMPTS` times.
"""

from __future__ import annotations

import time

import nbval.kernel

from immune_recovery.reporting.build import KERNEL_START_ATTEMPTS, kernel_failed_to_start

_start_new_kernel = nbval.kernel.start_new_kernel


def start_new_kernel(*args, **kwargs):
    """jupyter_client's ``start_new_kernel``, tried again when the kernel never started."""
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError as err:
            if not kernel_failed_to_start(err) or attempt == KERNEL_START_ATTEMPTS - 1:
                raise
            time.sleep(1 + 2 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


nbval.kernel.start_new_kernel = start_new_kernel
