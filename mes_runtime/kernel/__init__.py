"""The shared kernel: the few types every layer of the runtime may import.

Nothing here imports another ``mes_runtime`` package (``make lint`` checks it), so the
domain core, the engine, the adapters (MTP, database, EBR) and the API can all depend on
it without forming cycles:

* ``clock``  - :func:`~mes_runtime.kernel.clock.utcnow`, the one clock (UTC, aware);
* ``codes``  - MTP service state and command codes (VDI/VDE/NAMUR 2658-4);
* ``events`` - what equipment reports (process samples, service states, connection) and
  the review-by-exception :class:`~mes_runtime.kernel.events.Severity`;
* ``errors`` - the errors an equipment port raises (:class:`EquipmentUnavailable`);
* ``tasks``  - :func:`~mes_runtime.kernel.tasks.cancel_and_wait` for background tasks.
"""
