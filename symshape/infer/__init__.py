"""Inference: normalise -> observe -> solve -> name -> example -> rows (a DimSpec)."""

from .assemble import infer_dims, infer_with_sets

__all__ = ["infer_dims", "infer_with_sets"]
