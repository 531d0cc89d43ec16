"""The contract: ``DimSpec`` (rows, template, JSON) and its torch objects."""

from .dimspec import DimSpec

__all__ = ["DimSpec"]
