"""Simulated MTP modules (TK-201, BR-101, CH-301) served over OPC UA, with manifests.

Pure process models and service state machines live in ``dynamics``, ``model`` and
``service_machine``; ``server`` puts them on asyncua servers; ``testing`` gives other
test packages a ready-made running simulator.
"""

from mes_runtime.simulator.server import SimulatorServer, free_port

__all__ = ["SimulatorServer", "free_port"]
