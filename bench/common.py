"""Helpers shared by the benchmarks: percentiles and merging figures into `bench/results/latest.json`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the rule bench/retrieval.py uses)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def merge_results(key: str, figures: Any) -> None:
    """Store `figures` under `key` in bench/results/latest.json, keeping the other benchmarks' entries."""
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    results[key] = figures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
