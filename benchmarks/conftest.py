"""Shared benchmark helpers: collect bench_*.py and report ratios vs a same-run baseline."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def pytest_collect_file(file_path, parent):
    patterns = parent.config.getini("python_files")
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and "bench_*.py" not in patterns:
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def best_time(fn: Callable[[], object], rounds: int = 15) -> float:
    """Minimum wall time of *rounds* calls (the least noisy estimate on a shared machine)."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def report_ratio(benchmark, name: str, baseline: Callable[[], object], candidate: Callable[[], object],
                 rounds: int = 15) -> float:
    """Benchmark *candidate*; record baseline_time / candidate_time (>1 means faster)."""
    benchmark.pedantic(candidate, rounds=rounds, iterations=1, warmup_rounds=2)
    # Interleave baseline and candidate timings so drift on a noisy machine hits both.
    base = cand = float("inf")
    for _ in range(rounds):
        base = min(base, best_time(baseline, 1))
        cand = min(cand, best_time(candidate, 1))
    ratio = base / cand
    benchmark.extra_info[name] = round(ratio, 3)
    benchmark.extra_info["baseline_ms"] = round(base * 1e3, 3)
    benchmark.extra_info["candidate_ms"] = round(cand * 1e3, 3)
    print(f"\n{name}: {ratio:.3f}x  (baseline {base * 1e3:.2f} ms, candidate {cand * 1e3:.2f} ms)")
    return ratio
