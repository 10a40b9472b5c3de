"""Free loopback ports for the processes a test or benchmark starts.

There is one implementation, the simulator's own (:func:`mes_runtime.simulator.server.free_port`,
which the shipped simulator needs at run time); test support imports it from here.
"""

from __future__ import annotations

from mes_runtime.simulator.server import free_port

__all__ = ["free_port"]
