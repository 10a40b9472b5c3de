"""Equipment registration: an imported MTP manifest and its journal entry, in one unit of work.

The manifest is stored verbatim with its digest (what was imported can always be shown and
re-checked); ``equipment.imported`` or, with ``replace``, ``equipment.replaced`` (old digest
and endpoint) commits with the row. :class:`EquipmentExists` (a module imported already,
without ``replace``) and :class:`EquipmentNotFound` are the refusals.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import Equipment
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.unit_of_work import Entry, journalled
from mes_runtime.kernel.clock import utcnow

if TYPE_CHECKING:
    from mes_runtime.mtp.manifest import ModuleManifest

__all__ = [
    "EquipmentExists",
    "EquipmentNotFound",
    "get_equipment",
    "import_manifest",
    "list_equipment",
]


class EquipmentExists(Exception):
    """The module is imported already (pass ``replace`` to update its manifest)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"equipment {name!r} is already imported; pass ?replace=true to update")


class EquipmentNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no equipment named {name!r}")


async def import_manifest(
    journal: Journal, manifest: ModuleManifest, data: bytes, *, actor: str, replace: bool
) -> Equipment:
    """Store (or, with ``replace``, update) module ``manifest.name`` from the file ``data``
    it was read from, with its journal entry."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    now = utcnow()

    async def store(session: AsyncSession) -> tuple[Equipment, Entry]:
        row = (
            await session.execute(select(Equipment).where(Equipment.name == manifest.name))
        ).scalar_one_or_none()
        old = None if row is None else {"digest": row.manifest_digest, "endpoint": row.endpoint}
        if row is not None and not replace:
            raise EquipmentExists(manifest.name)
        if row is None:
            row = Equipment(name=manifest.name)
            session.add(row)
        row.endpoint = manifest.endpoint
        row.manifest = data
        row.manifest_digest = digest
        row.imported_by = actor
        row.imported_at = now
        return row, Entry(
            actor=actor,
            action="equipment.replaced" if old else "equipment.imported",
            subject=f"equipment:{manifest.name}",
            old_value=old,
            new_value={"digest": digest, "endpoint": manifest.endpoint},
        )

    try:
        return await journalled(journal, store)
    except IntegrityError:  # imported at the same moment through another replica
        raise EquipmentExists(manifest.name) from None


async def list_equipment(session: AsyncSession) -> list[Equipment]:
    return list((await session.execute(select(Equipment).order_by(Equipment.name))).scalars())


async def get_equipment(session: AsyncSession, name: str) -> Equipment:
    row = (
        await session.execute(select(Equipment).where(Equipment.name == name))
    ).scalar_one_or_none()
    if row is None:
        raise EquipmentNotFound(name)
    return row
