"""The report as rich tables and colours, for a terminal. Renders the same facts and
the same export lines as :mod:`.text`."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from .facts import Report, listing, values_text
from .text import bound_text, dim_where, export_lines, headline, set_header


def render_rich(report: Report, console: Any) -> None:
    """Print the report to a ``rich.console.Console`` with tables and colours."""
    console.print(f"[bold]{escape(headline(report))}[/bold]")
    if report.dims:
        table = Table(title="dims", title_justify="left", show_lines=False, expand=False)
        for column in ("name", "range", set_header(report.num_sets), "source", "appears at"):
            table.add_column(column, overflow="fold")
        for d in report.dims:
            source = d.origin
            if d.required:
                observed = "" if d.origin == "model" else "observed\n"
                source = f"{observed}[magenta]model: {escape('; '.join(d.required))}[/magenta]"
            table.add_row(
                f"[bold cyan]{d.name}[/bold cyan]",
                d.range_text.replace("inf", "∞"),
                values_text(d.values),
                source,
                escape(dim_where(d)),
            )
        console.print(table)
    if report.relations:
        table = Table(title="relations", title_justify="left")
        for column in ("relation", "kind", "origin", "support", "torch can state it"):
            table.add_column(column, overflow="fold")
        for r in report.relations:
            support = escape(r.support_text)
            if r.minimum_evidence:
                support = f"[yellow]{support}[/yellow]"
            stated = escape(r.stated_as)
            stated = f"[green]{stated}[/green]" if r.expressible else f"[yellow]{stated}[/yellow]"
            origin = "[magenta]model[/magenta]" if r.origin == "model" else "observed"
            table.add_row(escape(r.text), r.kind, origin, support, stated)
        console.print(table)
    if report.ints:
        console.print("[bold]int inputs[/bold] (torch.export takes Dim.DYNAMIC, not a named Dim, for an int)")
        for i in report.ints:
            console.print(f"  {escape(i['path'])} = {escape(i['expr'])} (values {values_text(i['values'])})")
    if report.static:
        console.print(
            f"[bold]static[/bold] ({len(report.static)} {'axis' if len(report.static) == 1 else 'axes'}): "
            f"[dim]{escape(listing(report.static))}[/dim]"
        )
    if report.bounds:
        console.print("[bold]bounds[/bold] (the ranges torch is given, and why)")
        for b in report.bounds:
            console.print(f"  {escape(bound_text(b))}")
    if report.rejected:
        console.print("[bold]seen but not trusted[/bold] (not emitted)")
        for r in report.rejected:
            console.print(f"  {escape(r['relation'])}: [dim]{escape(r['reason'])}[/dim]")
    if report.warnings:
        console.print("[bold yellow]warnings[/bold yellow]")
        for w in report.warnings:
            console.print(f"  [yellow]-[/yellow] {escape(w.text)}")
    if report.export is not None:
        for line in export_lines(report.export):
            bad = "REJECTED" in line or "not enforced" in line or "not verified" in line
            console.print(f"[red]{escape(line)}[/red]" if bad else escape(line))
