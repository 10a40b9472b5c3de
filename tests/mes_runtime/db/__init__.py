"""Tests of mes_runtime.db."""
