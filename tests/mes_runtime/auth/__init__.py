"""Tests of mes_runtime.auth."""
