"""MTP (VDI/VDE/NAMUR 2658) equipment over OPC UA: codes, manifests, client, supervision.

Modules (import from them directly; this package stays import-light because
``mes_runtime.engine.ports`` imports ``mes_runtime.mtp.codes``):

* ``codes``      - service state and command codes (2658-4);
* ``errors``     - the error hierarchy (``MtpError`` and friends);
* ``manifest``   - read/write AutomationML manifests (``load_manifest``, ``write_manifest``);
* ``client``     - ``MtpModuleClient``: one module over one asyncua session;
* ``supervisor`` - ``EquipmentSupervisor``: reconnect loop, connection events;
* ``equipment``  - ``MtpEquipment``: the engine's ``EquipmentPort`` over many modules.
"""
