"""Shared helpers for the benchmark scripts: timing, pinning and tables."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata


def pin_to_core(core: int) -> None:
    """Pin this process to one CPU core, where the OS allows it."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def versions(*dists: str) -> str:
    """``name version`` for each installed distribution, for the table header."""
    parts = [f"Python {platform.python_version()}"]
    for dist in dists:
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def ns_per_call(func: Callable[[], object], *, seconds: float = 0.05) -> float:
    """Nanoseconds per call of ``func``, timed over about ``seconds``."""
    number = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(number):
            func()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= seconds * 1e9:
            return elapsed / number
        number *= 2 if elapsed < seconds * 1e8 else 4


def interleaved(
    candidates: dict[str, Callable[[], object]],
    *,
    rounds: int,
    seconds: float,
    summary: Callable[[list[float]], float] = statistics.median,
) -> dict[str, float]:
    """ns/call per candidate (median of rounds by default), measured in interleaved
    rounds so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, func in candidates.items():
            samples[name].append(ns_per_call(func, seconds=seconds))
    return {name: summary(values) for name, values in samples.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    text = [[str(cell) for cell in row] for row in rows]
    if any(len(row) != len(headers) for row in text):
        raise ValueError("every row needs one cell per header")
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in text) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=False)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if num else ("-" * (w + 2))
            for w, num in zip(widths, numeric, strict=False)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in text)])


def _is_number(cell: str) -> bool:
    cell = cell.replace(",", "").rstrip("x×%")
    if cell in {"—", "-", ""}:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def command_line() -> str:
    """How this benchmark was invoked, for the README."""
    return "python " + " ".join(sys.argv)
