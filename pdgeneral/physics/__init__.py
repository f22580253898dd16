"""Pointwise physics: material constants and per-bond laws, written once for every backend."""
