"""Progress lines on stderr: a spinner on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console


class Progress:
    """One line per long step on stderr: a spinner on a terminal, plain lines otherwise."""

    def __init__(self, stream: Any = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        if self.tty:
            console = Console(file=self.stream, stderr=self.stream is sys.stderr, highlight=False)
            with console.status(f"{text} ..."):
                yield
            console.print(f"[green]✓[/green] {text} [dim]({time.perf_counter() - start:.2f} s)[/dim]")
        else:
            print(f"symshape: {text} ...", file=self.stream, flush=True)
            yield
            print(f"symshape: {text}: done in {time.perf_counter() - start:.2f} s", file=self.stream, flush=True)
