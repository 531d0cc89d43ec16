"""Integrations with other libraries: transformers (caches, prefill), ONNX, ExecuTorch.

Importing this package registers the transformers integration's flatten hook, so
that every flatten in symshape sees caches leaf by leaf."""

from . import transformers

__all__ = ["transformers"]
