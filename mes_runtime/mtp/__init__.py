"""MTP (VDI/VDE/NAMUR 2658) equipment over OPC UA: codes, manifests, client, supervision.

Modules (import from them directly; this package stays import-light). The MTP edge
implements the engine's ``EquipmentPort`` structurally and imports only the shared kernel
(``mes_runtime.kernel``: codes, events, errors), never the engine:

* ``codes``      - service state and command codes (2658-4, defined in the kernel);
* ``errors``     - the error hierarchy (``MtpError`` and friends);
* ``manifest``   - read/write AutomationML manifests (``load_manifest``, ``write_manifest``);
* ``client``     - ``MtpModuleClient``: one module over one asyncua session;
* ``supervisor`` - ``EquipmentSupervisor``: reconnect loop, connection events;
* ``equipment``  - ``MtpEquipment``: the engine's ``EquipmentPort`` over many modules.
"""
