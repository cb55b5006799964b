"""pytest plugin for the nbval run (``-p tests.nbval_kernel_retry``): a notebook's kernel that
died at start is started again, as the report build does
(:func:`immune_recovery.reporting.build.start_with_retry`).

Kernels started in parallel (nbval on several xdist workers) can pick the same free TCP port;
the loser dies before it answers ``kernel_info``. That is a failure to start, not a difference
in a notebook's outputs.
"""

from __future__ import annotations

import functools

import nbval.kernel

from immune_recovery.reporting.build import start_with_retry

_start_new_kernel = nbval.kernel.start_new_kernel


@functools.wraps(_start_new_kernel)
def start_new_kernel(*args, **kwargs):
    return start_with_retry(_start_new_kernel, *args, **kwargs)


nbval.kernel.start_new_kernel = start_new_kernel
