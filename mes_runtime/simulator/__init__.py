"""Simulated MTP modules (TK-201, BR-101, CH-301) served over OPC UA, with manifests.

Pure process models and service state machines live in ``dynamics``, ``model`` and
``service_machine``; ``server`` puts them on asyncua servers. Tests get a ready-made
running simulator from ``holon_testing.simulator`` (test support, not shipped).
"""

from mes_runtime.simulator.server import SimulatorServer, free_port

__all__ = ["SimulatorServer", "free_port"]
