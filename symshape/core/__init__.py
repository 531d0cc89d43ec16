"""The vocabulary every stage shares: paths, linear expressions, rows, records,
copying and binding input sets. Depends on nothing of symshape but ``_torch`` and
``errors``."""
