"""Test support shared by the tests, the end-to-end tests and the benchmarks.

Not part of the wheel (``pyproject.toml`` ships ``mes_runtime`` and ``mes_operator`` only;
``tests/test_packaging.py`` checks that nothing test-only is installed). Modules:

* ``layers``    - ``python -m holon_testing.layers``: the package graph, non-zero on a cycle.
"""
