"""Reports: the facts as data (:mod:`.facts`), rendered as text (:mod:`.text`) or
rich tables (:mod:`.rich`). Renderers never compute facts."""

from .facts import DimInfo, RelationInfo, Report, ReportWarning, build, listing
from .rich import render_rich
from .text import explain, export_lines, render_text

__all__ = [
    "DimInfo",
    "RelationInfo",
    "Report",
    "ReportWarning",
    "build",
    "explain",
    "export_lines",
    "listing",
    "render_rich",
    "render_text",
]
