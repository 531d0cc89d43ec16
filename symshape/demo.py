"""``python -m symshape.demo``: an alias of ``symshape demo`` (see :mod:`symshape.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
