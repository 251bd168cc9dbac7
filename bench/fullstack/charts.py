"""PNG charts for docs/benchmarks.md (matplotlib, the ``bench`` extra); each returns the Markdown image
line, or a note saying why there is no chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..harness import ROOT
from .systems import LABELS

CHART_DIR = ROOT / "docs" / "benchmarks"
COLORS = {
    "ours": "#1f77b4",
    "ours-sqlite": "#9ecae1",
    "legacy": "#d62728",
    "gunicorn": "#7f7f7f",
    "daphne4": "#2ca02c",
    "uvicorn": "#ff7f0e",
}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, name: str, alt: str) -> str:
    CHART_DIR.mkdir(parents=True, exist_ok=True)
    path = CHART_DIR / name
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return f"![{alt}]({Path('benchmarks') / name})"


def _missing() -> str:
    return "(No chart: matplotlib is not installed; `pip install -e '.[bench]'`.)"


def grouped_bars(
    name: str,
    title: str,
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    alt: str,
    log_scale: bool = False,
) -> str:
    """One bar per system in each group; ``series`` maps a system to one value per group (NaN: none)."""
    plt = _pyplot()
    if plt is None:
        return _missing()
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / max(len(series), 1)
    for index, (system, values) in enumerate(series.items()):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(
            xs, [v if v == v else 0 for v in values], width, label=LABELS.get(system, system), color=COLORS.get(system)
        )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log_scale:
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, name, alt)


def http_chart(figures: dict[tuple[str, int, str, int], dict[str, float]], systems: Sequence[str]) -> str:
    keys = sorted(
        {(workers, case, conns) for (_s, workers, case, conns) in figures}, key=lambda k: (k[1] != "hello", k[0], k[2])
    )
    groups = [f"{case}\n{workers}w {conns}c" for workers, case, conns in keys]
    rps = {s: [figures.get((s, w, c, n), {}).get("rps", float("nan")) for w, c, n in keys] for s in systems}
    p99 = {s: [figures.get((s, w, c, n), {}).get("p99", float("nan")) for w, c, n in keys] for s in systems}
    first = grouped_bars(
        "fullstack-http-rps.png",
        "HTTP req/s (higher is better)",
        groups,
        rps,
        "req/s",
        "HTTP requests per second by system",
    )
    second = grouped_bars(
        "fullstack-http-p99.png",
        "HTTP p99 latency (lower is better, log scale)",
        groups,
        p99,
        "p99 ms",
        "HTTP p99 latency by system",
        log_scale=True,
    )
    return first + "\n\n" + second
