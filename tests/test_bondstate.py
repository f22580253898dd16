"""Bond-state bit packing round trip, rows longer than one 32-bit word included."""
import numpy as np

from pdgeneral import bondstate


def test_pack_unpack_round_trip_with_multiword_rows():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 130, size=50)           # up to 5 words per particle (3D: 122 bonds)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    intact = rng.random(offsets[-1]) < 0.7
    bits = bondstate.pack(offsets, intact, int(counts.max()))
    assert bits.shape == (5, 50) and bits.dtype == np.uint32
    assert np.array_equal(bondstate.unpack(offsets, bits), intact)
    # bit n % 32 of word n // 32 is bond n of the row
    i = int(np.argmax(counts))
    n = 37
    assert bool((bits[n // 32, i] >> (n % 32)) & 1) == intact[offsets[i] + n]
