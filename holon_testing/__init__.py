"""Test support shared by the tests, the end-to-end tests and the benchmarks.

Not part of the wheel: ``pyproject.toml`` ships ``mes_runtime`` and ``mes_operator`` only,
``make lint`` forbids them to import this package, and ``tests/test_packaging.py`` checks
that an installed wheel has none of it. Modules:

* ``postgres``          - a throw-away PostgreSQL server (``throwaway_postgres``, and one
  reachable from Pods, ``postgres_for_clients``);
* ``simulator``         - the MTP simulator in-process (``running_simulator``);
* ``simulator_process`` - the simulator as a subprocess (``simulated_module``);
* ``net``               - ``free_port``;
* ``kube``              - the test-cluster guard, one kubectl/helm runner, kubeconfigs;
* ``operator``          - ``OperatorProcess``: the operator as a host process;
* ``load``              - ``LoadLoop``: steady reads through a Service, failures counted;
* ``real_node``         - a module on the real node: images, placement, host Services,
  the backup store Secret, the runtime's people and a running batch;
* ``layers``            - ``python -m holon_testing.layers``: the package graph, non-zero
  on a cycle.
"""
