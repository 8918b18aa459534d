"""The bench report's tables, declared once and drawn two ways: a terminal table (``rtdepth bench``) and
Markdown (the GPU kit's summary, notes). Rows are the JSON dicts ``engines.bench.as_json`` writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict[str, Any]], str]


def _num(key: str, digits: int = 1) -> Callable[[dict[str, Any]], str]:
    return lambda row: "-" if row.get(key) is None else f"{row[key]:.{digits}f}"


def _text(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: str(row.get(key, ""))


def _stages(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in row.get("stage_ms", {}).items())


_WHAT = [Column("model", _text("model")), Column("backend", _text("backend")), Column("precision", _text("precision")),
         Column("size", _text("size"))]  # fmt: skip

# One entry per section of ``as_json``: its title and columns.
TABLES: dict[str, tuple[str, list[Column]]] = {
    "latency": ("model-only latency", [*_WHAT[:2], Column("device", _text("device")), *_WHAT[2:],
                                       Column("median ms", _num("median_ms", 2)), Column("p95 ms", _num("p95_ms", 2)),
                                       Column("x torch fp32", _num("speedup", 2))]),  # fmt: skip
    "end_to_end": ("end to end (video)", [*_WHAT, Column("model-only fps", _num("model_fps")),
                                          Column("video fps", _num("video_fps")), Column("video / model", _num("ratio", 2)),
                                          Column("stage medians ms", _stages)]),  # fmt: skip
    "live": ("live (clip paced as a camera, glass to glass)", [
        *_WHAT, Column("camera fps", _num("source_fps", 0)), Column("shown fps", _num("shown_fps")),
        Column("latency median ms", _num("latency_median_ms")), Column("p95 ms", _num("latency_p95_ms")),
        Column("dropped", lambda r: f"{r['dropped_share']:.0%}")]),  # fmt: skip
    "serve": ("serve (clip looped)", [*_WHAT[:3], Column("no viewer fps", _num("alone_fps")),
                                      Column("one viewer fps", _num("one_viewer_fps")), Column("ratio", _num("ratio", 2))]),
}  # fmt: skip


def cells(section: str, rows: list[dict[str, Any]]) -> tuple[str, list[str], list[list[str]]]:
    """A section's title, headers and formatted cells."""
    title, columns = TABLES[section]
    return title, [c.header for c in columns], [[c.cell(r) for c in columns] for r in rows]


def rich_tables(report: dict[str, list[dict[str, Any]]]) -> list[Any]:
    """Terminal tables for each non-empty section, in the declared order."""
    from rich.table import Table

    tables = []
    for section in TABLES:
        if report.get(section):
            title, headers, body = cells(section, report[section])
            table = Table(*headers, title=title)
            for row in body:
                table.add_row(*row)
            tables.append(table)
    return tables


def markdown(report: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown tables for each non-empty section, each led by its title in bold."""
    lines: list[str] = []
    for section in TABLES:
        if report.get(section):
            title, headers, body = cells(section, report[section])
            lines += [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(row) + " |" for row in body]
            lines.append("")
    return lines
