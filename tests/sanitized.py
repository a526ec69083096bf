"""A compiled kernel built with AddressSanitizer and UBSan, the environment a Python needs to load it (the
sanitizer's runtime preloaded ahead of every library, as ASan needs, and the C++ runtime torch already uses, for
ASan's exception interceptor), the check that a case script runs clean under it, and those scripts' main
(kernel_cases.py, bait_kernel_cases.py, kmeans_kernel_cases.py: their test modules run them so, in a subprocess),
and the skip of a test whose kernel cannot be built here."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kernels

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")


def built_or_skip(state, what):
    """The library a kernel module's state() built and loaded, or a skip naming `what` and why it cannot be here."""
    library, why = state()
    if library is None:
        pytest.skip(f"the compiled {what} cannot be built here: {why}")
    return library


def sanitized_build(cache, source, *flags):
    """(library, environment) for `source` compiled into `cache` with the kernels' flags, SANITIZE and `flags`;
    skips the test where the compiler or the platform does not support it."""
    try:
        lib = kernels.build(cache, kernels.FLAGS + SANITIZE + flags, source)
    except kernels.Unavailable as e:
        pytest.skip(f"no sanitized build here: {e}")
    linked = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout.split()
    asan = next((w for w in linked if "libasan.so" in w and w.startswith("/")), None)
    cxx = next((line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if "libstdc++.so" in line), None)
    if asan is None or cxx is None:
        pytest.skip(f"the sanitized build links no ASan runtime to preload ({asan}) or torch uses no libstdc++")
    return lib, dict(os.environ, LD_PRELOAD=f"{asan} {cxx}", ASAN_OPTIONS="detect_leaks=0")


def assert_clean_then_overrun(script, lib, env, cases):
    """Runs `python script lib --overrun` in `env`: it must print "ok <cases>" with no sanitizer report, then have
    its forced overrun reported as ASan's only error (the sanitizer is live)."""
    proc = subprocess.run([sys.executable, str(script), str(lib), "--overrun"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.stdout == f"ok {cases}\n", proc.stderr[-3000:]
    assert proc.returncode != 0 and "AddressSanitizer: heap-buffer-overflow" in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.count("ERROR: AddressSanitizer") == 1 and "runtime error" not in proc.stderr


def run_edge_cases(load, edges, check, overrun, path, *flags):
    """A case script's main: loads the library at `path` with `load`, runs check(library, case) for every edge case
    and prints "ok <count>"; then, with --overrun, runs overrun(library), which a sanitized build must report."""
    torch.set_num_threads(1)
    library = load(Path(path))
    for case in edges:
        check(library, case)
    print(f"ok {len(edges)}", flush=True)
    if "--overrun" in flags:
        overrun(library)
