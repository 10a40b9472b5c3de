"""Tests of mes_runtime.ebr."""
