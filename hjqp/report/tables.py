"""Markdown tables for reports."""

from __future__ import annotations

from typing import Sequence

__all__ = ["table"]


def table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A markdown table."""
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
