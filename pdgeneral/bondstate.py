"""Bond state packing: one bit per bond, 32 bonds to a uint32 word, words laid out (words, N).

Bit n % 32 of word n // 32 of particle i is bond n of i's row (the n-th neighbour in ascending
order), on every backend. 1 = intact.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


def word_count(max_bonds: int) -> int:
    return max(1, (max_bonds + 31) // 32)


@njit(parallel=True, cache=True)
def _pack(offsets, intact, bits):
    for i in prange(offsets.shape[0] - 1):
        for k in range(offsets[i], offsets[i + 1]):
            if intact[k]:
                n = k - offsets[i]
                bits[n >> 5, i] |= np.uint32(1) << np.uint32(n & 31)


@njit(parallel=True, cache=True)
def _unpack(offsets, bits, intact):
    for i in prange(offsets.shape[0] - 1):
        for k in range(offsets[i], offsets[i + 1]):
            n = k - offsets[i]
            intact[k] = (bits[n >> 5, i] >> np.uint32(n & 31)) & np.uint32(1)


def pack(offsets: np.ndarray, intact: np.ndarray, max_bonds: int) -> np.ndarray:
    """Per-bond intact flags (M,) in CSR order -> bit words (words, N) uint32."""
    bits = np.zeros((word_count(max_bonds), offsets.shape[0] - 1), dtype=np.uint32)
    _pack(offsets, intact, bits)
    return bits


def unpack(offsets: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Bit words (words, N) -> per-bond intact flags (M,) bool in CSR order."""
    intact = np.zeros(offsets[-1], dtype=np.bool_)
    _unpack(offsets, bits, intact)
    return intact
