"""Plain access to a CAEX (AutomationML) tree, whatever the CAEX version.

CAEX 2.15 files (MTP manifest 1.0.0) have no XML namespace, CAEX 3.0 files (manifest
1.1.0) use ``http://www.dke.de/CAEX``; everything here compares local names, so the reader
above never sees a namespace. A class is recognised by its path and by the paths it is
derived from (``RefBaseClassPath`` in the file's own ``SystemUnitClassLib`` /
``InterfaceClassLib``): a vendor's ``VendorLib/MyServiceControl`` derived from the MTP
``ServiceControl`` is a ``ServiceControl``. Element names never decide what a thing is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CaexAttribute",
    "ClassLibrary",
    "attributes",
    "children",
    "class_of",
    "local",
    "walk",
]

#: Derivation chains longer than this are refused as cyclic or absurd.
MAX_DERIVATION = 64


def local(tag: object) -> str:
    """The tag without its XML namespace."""
    return str(tag).rsplit("}", 1)[-1]


def children(element: Any, local_name: str) -> Iterator[Any]:
    return (child for child in element if local(child.tag) == local_name)


@dataclass(frozen=True, slots=True)
class CaexAttribute:
    """One ``<Attribute>``: its value and what the file says about its type.

    ``data_type`` is ``AttributeDataType`` (``xs:IDREF`` marks a link in manifest 1.0.0),
    ``ref_type`` is ``RefAttributeType`` (``.../IDLinkAttributeType`` marks a link and
    ``.../RefIDAttributeType`` a shared identity in manifest 1.1.0).
    """

    name: str
    value: str
    data_type: str
    ref_type: str

    @property
    def declared_link(self) -> bool:
        """The file itself marks this attribute as a link to another element's ID."""
        return self.data_type.lower() == "xs:idref" or self.ref_type.endswith("IDLinkAttributeType")

    @property
    def is_identity(self) -> bool:
        """A ``RefID`` naming this element's shared identity (never a link to an item)."""
        return self.name == "RefID" or self.ref_type.endswith("RefIDAttributeType")


def attributes(element: Any) -> dict[str, CaexAttribute]:
    """The element's ``<Attribute>`` children by name (``Value``, else ``DefaultValue``)."""
    result: dict[str, CaexAttribute] = {}
    for attribute in children(element, "Attribute"):
        value = next(children(attribute, "Value"), None)
        if value is None:
            value = next(children(attribute, "DefaultValue"), None)
        text = "" if value is None or value.text is None else value.text.strip()
        name = str(attribute.get("Name", ""))
        result[name] = CaexAttribute(
            name=name,
            value=text,
            data_type=str(attribute.get("AttributeDataType", "")),
            ref_type=str(attribute.get("RefAttributeType", "")),
        )
    return result


def walk(element: Any, path: str) -> Iterator[tuple[Any, str]]:
    """Every InternalElement below ``element`` (depth first) with its name path."""
    for child in children(element, "InternalElement"):
        child_path = f"{path}/{child.get('Name', '?')}"
        yield child, child_path
        yield from walk(child, child_path)


def class_of(element: Any) -> str:
    """The class an instance names: ``RefBaseSystemUnitPath`` or ``RefBaseClassPath``."""
    return str(element.get("RefBaseSystemUnitPath") or element.get("RefBaseClassPath") or "")


class ClassLibrary:
    """The file's own class libraries: path -> base path, to follow specialisations."""

    def __init__(self, root: Any) -> None:
        self.bases: dict[str, str] = {}
        for kind, item in (
            ("SystemUnitClassLib", "SystemUnitClass"),
            ("InterfaceClassLib", "InterfaceClass"),
        ):
            for library in children(root, kind):
                self._index(library, str(library.get("Name", "")), item)

    def _index(self, parent: Any, path: str, item: str) -> None:
        for cls in children(parent, item):
            cls_path = f"{path}/{cls.get('Name', '')}"
            base = str(cls.get("RefBaseClassPath") or "")
            if base:
                self.bases[cls_path] = base
            self._index(cls, cls_path, item)

    def lineage(self, class_path: str) -> list[str]:
        """``class_path`` and every class it derives from, nearest first."""
        chain = [class_path]
        while chain[-1] in self.bases and len(chain) < MAX_DERIVATION:
            base = self.bases[chain[-1]]
            if base in chain:
                break
            chain.append(base)
        return chain

    def derives(self, class_path: str, targets: Iterable[str]) -> bool:
        """Whether the class is one of ``targets`` or derived from one of them."""
        wanted = frozenset(targets)
        return bool(class_path) and any(p in wanted for p in self.lineage(class_path))
