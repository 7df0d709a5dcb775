"""Shared benchmark helpers: collect bench_*.py and report ratios vs a same-run baseline.

The machine is shared and noisy and the real target is a camera SoC, so an
absolute time means little. ``report_ratio`` compares best times; the
``paired`` fixture (``run_paired``) times a *candidate* (our code) and a
*baseline* (the simplest honest alternative) in the same run, alternating
round by round, and reports the ratio of their medians.

Usage in a ``bench_<area>.py``::

    def test_push(benchmark, paired):
        paired(benchmark, "push 200 B", candidate, baseline,
               prepare=make_state, rounds=30, target=3.0, mode="speedup")

``prepare()`` (untimed) builds fresh state for one round and is called once
for the baseline and once for the candidate; both functions take that state.
``mode="speedup"`` reports baseline/candidate (bigger is better, target is a
minimum); ``mode="overhead"`` reports candidate/baseline (smaller is better,
target is a maximum). ``per`` divides times into per-item figures. The ratio,
both medians and whether the target was met go into ``benchmark.extra_info``
and into a summary printed at the end of the run.
"""

from __future__ import annotations

import os

# Idle OpenBLAS worker threads (numpy) spin on this 2-core machine and steal time
# from whatever is being measured; nothing here does linear algebra.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402


def pytest_collect_file(file_path, parent):
    patterns = parent.config.getini("python_files")
    # Files named on the command line are collected by pytest itself already.
    if parent.session.isinitpath(file_path):
        return None
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
    line = f"{name}: {ratio:.3f}x  (baseline {base * 1e3:.2f} ms, candidate {cand * 1e3:.2f} ms)"
    _RESULTS.append(line)
    print("\n" + line)
    return ratio


_RESULTS: list[str] = []


def run_paired(
    benchmark: Any,
    label: str,
    candidate: Callable[[Any], object],
    baseline: Callable[[Any], object],
    *,
    prepare: Callable[[], Any] | None = None,
    rounds: int = 20,
    warmup: int = 1,
    target: float | None = None,
    mode: str = "speedup",
    per: int = 1,
    unit: str = "op",
) -> float:
    """Time *candidate* (through pytest-benchmark) and *baseline* alternately; return the ratio."""
    if mode not in ("speedup", "overhead"):
        raise ValueError(f"mode must be 'speedup' or 'overhead', not {mode!r}")
    base_times: list[float] = []

    def setup():
        state = prepare() if prepare else None
        gc.collect()
        t0 = time.perf_counter()
        baseline(state)
        base_times.append(time.perf_counter() - t0)
        state = prepare() if prepare else None
        gc.collect()
        return (state,), {}

    benchmark.pedantic(candidate, setup=setup, rounds=rounds, warmup_rounds=warmup, iterations=1)
    cand = benchmark.stats.stats.median
    base_runs = base_times[warmup:] or base_times
    base = statistics.median(base_runs)
    cand_runs = list(benchmark.stats.stats.data)
    # Round i's baseline ran right before round i's candidate: the median of the
    # paired differences is less sensitive to drift on a shared machine.
    diffs = [c - b for c, b in zip(cand_runs, base_runs, strict=False)]
    benchmark.extra_info["median_paired_diff_s"] = statistics.median(diffs) if diffs else cand - base
    ratio = base / cand if mode == "speedup" else cand / base
    met = None if target is None else (ratio >= target if mode == "speedup" else ratio <= target)
    benchmark.extra_info.update(
        label=label,
        mode=mode,
        ratio=round(ratio, 3),
        target=target,
        target_met=met,
        candidate_median_s=cand,
        baseline_median_s=base,
        per=per,
    )
    op = "x faster than" if mode == "speedup" else "x the time of"
    bound = (
        ""
        if target is None
        else f" (target {'>=' if mode == 'speedup' else '<='} {target}: {'met' if met else 'MISSED'})"
    )
    line = (
        f"{label}: {ratio:.2f}{op} baseline{bound}; "
        f"candidate {cand / per * 1e6:.3f} us/{unit}, baseline {base / per * 1e6:.3f} us/{unit}"
    )
    _RESULTS.append(line)
    print("\nRATIO " + line)
    return ratio


def record_line(line: str) -> None:
    """Add a free-form line (e.g. an absolute per-item cost) to the end-of-run summary."""
    _RESULTS.append(line)
    print("\n" + line)


@pytest.fixture
def paired():
    """The :func:`run_paired` helper, as a fixture (bench files never import conftest)."""
    return run_paired


@pytest.fixture
def ratio():
    """The :func:`report_ratio` helper, as a fixture."""
    return report_ratio


@pytest.fixture
def note():
    """The :func:`record_line` helper, as a fixture."""
    return record_line


def pytest_terminal_summary(terminalreporter):
    if _RESULTS:
        terminalreporter.section("bwc-core benchmark ratios (same-run baselines)")
        for line in _RESULTS:
            terminalreporter.write_line(line)
