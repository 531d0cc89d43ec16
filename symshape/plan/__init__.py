"""Export plans: one program per regime of a workload (prefill, decode, a sliding window
full or not, buckets of a size the model specialises), one name table, routed by region,
saved and loaded as a directory. See ``docs/plans.md``."""

from .errors import NotCoveredError, PlanError, PlanFileError
from .executorch import ExecuTorchPlan
from .make import export_plan
from .plan import Plan, load_plan
from .region import Constraint, Region

__all__ = [
    "Constraint",
    "ExecuTorchPlan",
    "NotCoveredError",
    "Plan",
    "PlanError",
    "PlanFileError",
    "Region",
    "export_plan",
    "load_plan",
]
