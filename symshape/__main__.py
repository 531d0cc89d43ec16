"""``python -m symshape``: the ``symshape`` command (see :mod:`symshape.cli`)."""

from .cli import main

raise SystemExit(main())
