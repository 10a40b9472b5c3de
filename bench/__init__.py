"""Holon's runtime benchmarks (``make bench``, ``python -m bench``).

Performance is measured here and never asserted in tests: the machines are noisy, so each
benchmark reports medians over several repetitions (p95 where latency matters) and the
ratio against a baseline measured in the same run, and the final table says which of the
project's goals are met and how each row compares with its figure from the last accepted
run (``recorded.json``): a missed goal or a regression beyond the row's tolerance fails the
run. ``--quick`` runs everything at a smoke size (what ``tests/bench`` does, so the
benchmarks cannot rot, never failing); ``--only NAME`` runs one.
"""
