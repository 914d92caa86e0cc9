"""The block codec is lossless for every float64 bit pattern and small for smooth signals."""

from __future__ import annotations

import numpy as np
from _storehelp import awkward_frames, same_bits
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from twin.store import codec


def test_awkward_frames_round_trip_bit_for_bit_at_every_block_length():
    for n in (1, 2, 3, 4, 7, 64, 256, 300):
        block = awkward_frames(np.arange(n, dtype=float) * 0.5)
        blobs = codec.encode_block(block)
        assert len(blobs) == block.shape[1]
        assert same_bits(codec.decode_columns(blobs, n).T, block), n


def test_a_prefix_decodes_to_the_first_ticks():
    block = awkward_frames(np.arange(100.0))
    blobs = codec.encode_block(block)
    for upto in (1, 2, 3, 50, 100):
        assert same_bits(codec.decode_columns(blobs, 100, upto=upto).T, block[:upto])


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint64, st.tuples(st.integers(1, 40), st.integers(1, 4))))
def test_any_bit_patterns_round_trip(bits):
    block = bits.view(np.float64)
    blobs = codec.encode_block(block)
    assert same_bits(codec.decode_columns(blobs, block.shape[0]).T, block)


def test_constant_columns_cost_nine_bytes():
    block = np.zeros((256, 3))
    block[:, 1] = np.nan
    block[:, 2] = -0.0
    blobs = codec.encode_block(block)
    assert [len(b) for b in blobs] == [9, 9, 9]
    assert same_bits(codec.decode_columns(blobs, 256).T, block)


def test_ramps_and_sensor_resolution_signals_compress_far_below_raw_float64():
    t = np.arange(256.0)
    ramp = 1000.0 + 0.25 * t  # a clock: second differences are zero
    reading = np.round(20.0 + 5.0 * np.sin(t / 50.0), 2)  # a sensor with 0.01 resolution
    for col, limit in ((ramp, 64), (reading, 256 * 8 / 3)):
        blob = codec.encode_column(col)
        assert len(blob) < limit
        assert same_bits(codec.decode_column(blob, 256), col)


def test_noise_is_stored_raw_not_inflated():
    """Rounding-noise byte planes are kept raw (zlib cannot shrink them)."""
    rng = np.random.default_rng(3)
    col = 50.0 + rng.random(256)
    blob = codec.encode_column(col)
    first_zlib_plane = blob[2]
    assert blob[0] == codec.PLANES and first_zlib_plane >= 4
    assert len(blob) <= 256 * 8
    assert same_bits(codec.decode_column(blob, 256), col)
