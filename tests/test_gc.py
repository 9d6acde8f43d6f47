"""The collector pause shared by the service areas and the print sheets."""

from __future__ import annotations

import gc

import pytest

from mtown_geo import _gc


def test_paused_restores_the_collector_after_the_block_and_after_an_error():
    assert gc.isenabled()
    with _gc.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="inside"), _gc.paused():
        raise RuntimeError("inside")
    assert gc.isenabled()


def test_an_inner_block_keeps_the_outer_pause():
    with _gc.paused():
        with _gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block did not turn it back on
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        with _gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
