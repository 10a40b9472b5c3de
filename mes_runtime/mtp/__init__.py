"""MTP (VDI/VDE/NAMUR 2658) equipment over OPC UA: manifests, client, supervision.

Reading a manifest (model, CAEX access, units, the vendor reader, the bounded parse and
which declared nodes a server lacks) is the shared, pure :mod:`mtp_manifest`, which the
operator's Equipment verification uses too. Modules here (import from them directly; this
package stays import-light). The MTP edge implements the engine's ``EquipmentPort``
structurally and imports only the shared kernel (``mes_runtime.kernel``: codes, events,
errors), never the engine:

* ``codes``        - service state and command codes (2658-4, defined in the kernel);
* ``errors``       - the error hierarchy (``MtpError`` and friends);
* ``writer``       - a module back to AutomationML or ``.mtp`` (``write_manifest``);
* ``manifest``     - re-exports the shared reader's model and loading, and the writer, for
  callers outside ``mtp``;
* ``capabilities`` - a manifest as the domain's ``Capabilities``;
* ``presence``     - whether a module serves every node its manifest declares;
* ``client``       - ``MtpModuleClient``: one module over one asyncua session;
* ``supervisor``   - ``EquipmentSupervisor``: reconnect loop, connection events;
* ``equipment``    - ``MtpEquipment``: the engine's ``EquipmentPort`` over many modules.

Decisions where Holon reads or drives a module differently from the letter of 2658, and
why (each is also stated where it is implemented):

* A procedure without ``IsSelfCompleting`` is taken as self-completing, with a warning
  (2658-4 makes the attribute mandatory; Holon's own earlier manifests always wrote it,
  and an import should not fail on its absence when the warning names it).
* A parameter write is confirmed on ``VReq``, on ``VOut`` only when the module has no
  ``VReq``, never on ``VFbk``: PEAs let ``VOut``/``VFbk`` follow when the procedure
  starts, and 2658-3 does not promise more before Start.
* ``xs:boolean`` values are read case-insensitively (``True``/``False`` as some
  engineering tools write them); anything else is an error, never ``bool(text)``.
* An ``xs:string`` identifier that already carries an OPC UA prefix (``i=5``) keeps it:
  Holon's 1.0.0 manifests were written that way before identifiers were typed.
* Only ``AnaServParam``/``DIntServParam`` parameters are offered (Holon writes numbers);
  binary and string parameters, report values and data assemblies nothing uses are
  warnings that name them, not silent omissions.
* A module is connected only when every declared node reads good - stricter than a
  session: a PEA with a missing node would fail a phase later, at the worst moment.
"""
