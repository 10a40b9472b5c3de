"""The batch record as B2MML BatchML: one ``BatchProductionRecord`` (ISA-88 part 4).

Namespace ``http://www.mesa.org/xml/B2MML-V0600``. The record carries its identity
(``ID``, ``EntryID``, ``ObjectType``, ``TimeStamp``), a ``Description`` (recipe, status and
the journal verification with the chain's head hash), ``PublishedDate``, ``CreationDate``,
``BatchID``, ``RecordStatus`` and ``Version``, then ``Events``: one ``Event`` per journal
entry of the batch, in order (``EntryID`` = journal seq, ``EventType``/``EventSubType`` =
the action, ``PersonID`` = who, ``ProceduralElementReference`` = the element,
``PreviousValue``/``Value`` = old/new value, ``MessageText`` = the reason), followed by one
``Process Value`` event per tag summarising its values (count, min, max, mean). Element
order follows the BatchML schema's sequences (``BatchProductionRecordType``,
``SingleEventType``).
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from mes_runtime.services.report.record import BatchRecord
from mes_runtime.services.report.sections import status_line

__all__ = ["NAMESPACE", "render_batchml"]

NAMESPACE = "http://www.mesa.org/xml/B2MML-V0600"
_N = f"{{{NAMESPACE}}}"


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _N + tag)
    if text is not None:
        element.text = text
    return element


def _value(parent: ET.Element, tag: str, value: Any, *, unit: str | None = None) -> None:
    holder = _add(parent, tag)
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        _add(holder, "ValueString", text)
        _add(holder, "DataType", "string")
    else:
        _add(holder, "ValueString", repr(float(value)) if isinstance(value, float) else str(value))
        _add(holder, "DataType", "double" if isinstance(value, float) else "integer")
    if unit:
        _add(holder, "UnitOfMeasure", unit)


def _iso(moment: Any) -> str:
    text = moment if isinstance(moment, str) else moment.isoformat()
    return text.replace("+00:00", "Z")


def render_batchml(record: BatchRecord) -> bytes:
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(_N + "BatchProductionRecord")
    ident = f"BPR-{record.batch_id}"
    _add(root, "ID", ident)
    _add(root, "EntryID", ident)
    _add(root, "ObjectType", "Batch Production Record")
    _add(root, "TimeStamp", _iso(record.generated_at))
    v = record.verification
    _add(
        root,
        "Description",
        f"Electronic batch record of batch {record.batch_id}: recipe {record.recipe_name} "
        f"version {record.recipe_version}, product {record.product or '-'}; "
        f"{status_line(record)}",
    )
    _add(
        root,
        "Description",
        f"Journal verification: {'VERIFIED' if v.ok else 'FAILED ' + str(v.problem)}; "
        f"{v.entries_checked} entries checked; chain head seq {v.head_seq} hash {v.head_hash}",
    )
    _add(root, "PublishedDate", _iso(record.generated_at))
    _add(root, "CreationDate", _iso(record.created_at))
    _add(root, "BatchID", record.batch_id)
    _add(root, "RecordStatus", record.decision["decision"] if record.decision else "Reviewing")
    _add(root, "Version", "1")
    events = _add(root, "Events")
    _add(events, "EntryID", f"{ident}-events")
    _add(events, "ObjectType", "Events")
    for line in record.journal:
        event = _add(events, "Event")
        _add(event, "EntryID", str(line.seq))
        _add(event, "ObjectType", "Event")
        _add(event, "TimeStamp", line.ts)
        _add(event, "Description", f"journal entry {line.seq}, hash {line.hash}")
        kind, _, sub = line.action.partition(".")
        _add(event, "EventType", kind)
        _add(event, "EventSubType", sub or kind)
        if line.old_value is not None:
            _value(event, "Value", line.new_value if line.new_value is not None else "")
            _value(event, "PreviousValue", line.old_value)
        elif line.new_value is not None:
            _value(event, "Value", line.new_value)
        if line.reason:
            _add(event, "MessageText", line.reason)
        _add(event, "PersonID", line.actor)
        _add(event, "ProceduralElementReference", line.subject)
    for series in record.series:
        event = _add(events, "Event")
        _add(event, "EntryID", f"pv-{series.tag}")
        _add(event, "ObjectType", "Event")
        _add(event, "TimeStamp", _iso(series.t1))
        _add(event, "Description", f"{series.count} values of {series.tag} over the batch")
        _add(event, "EventType", "Process Value")
        _add(event, "EventSubType", "summary")
        _add(event, "EquipmentID", series.equipment)
        for key, number in (("min", series.low), ("max", series.high), ("mean", series.mean)):
            _value(event, "Value", number, unit=series.unit)
            holder = event[-1]
            _add(holder, "Key", key)
        _add(event, "MessageText", f"{series.name}: {series.count} values")
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
