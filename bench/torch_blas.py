"""Which BLAS Debian's python3-torch runs on, checked before a peer is timed.

Debian builds torch against the generic libblas.so.3 and lets update-alternatives pick the library: without
libopenblas0-pthread that is the netlib reference BLAS, about 3 GFLOP/s a core where OpenBLAS gives 40-50, so a
peer run on it measures the wrong library and takes hours (the NER peer's 0.35 sentences/s in the fifth session).
"""
import sys

import torch


def blas_library():
    """The libblas.so.3 this process mapped after a float matmul (torch loads it lazily)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split()[-1] for line in maps if "libblas" in line or "openblas" in line}
    return sorted(paths)


def require_openblas():
    """Exit with the fix when the reference BLAS is what torch runs on."""
    paths = blas_library()
    if paths and not any("openblas" in p for p in paths):
        sys.exit(f"torch runs on the reference BLAS ({', '.join(paths)}), 10-15x slower than OpenBLAS; "
                 "install it first: apt-get install libopenblas0-pthread")
