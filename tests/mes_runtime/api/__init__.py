"""Tests of mes_runtime.api."""
