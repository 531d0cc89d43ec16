"""The machine line every benchmark prints, so that results can be compared."""

from __future__ import annotations

import os
import platform


def machine_info() -> str:
    import torch
    import transformers

    import symshape

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return (
        f"torch {torch.__version__}, transformers {transformers.__version__}, symshape {symshape.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, cpu_count {os.cpu_count()} "
        f"(usable {affinity}), torch threads {torch.get_num_threads()}"
    )
