"""Reading uploaded documents (recipes as JSON or YAML) with clear, located errors.

A document is bounded before it can cost more than its bytes: YAML anchors and aliases are
refused (a 3.6 KB "billion laughs" expands to hundreds of thousands of nodes), and nesting
deeper than ``MAX_DOCUMENT_DEPTH`` is refused while parsing (YAML) or right after it (JSON),
so that neither the parser nor the recursive code after it meets a ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import HTTPException, Request, status

from mes_runtime.api.errors import api_error, unprocessable

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_DOCUMENT_DEPTH", "read_document", "read_upload"]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: Far deeper than any recipe (procedure > unit procedure > operation > phase > parameter).
MAX_DOCUMENT_DEPTH = 64
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


async def read_upload(request: Request, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The raw request body, refusing empty or oversized uploads."""
    data = await request.body()
    if len(data) > limit:
        raise api_error(
            413,
            ("body",),
            f"the document is {len(data)} bytes; the limit is {limit}",
            "too_large",
        )
    if not data:
        raise unprocessable(("body",), "the request body is empty")
    return data


async def read_document(request: Request) -> dict[str, Any]:
    """A JSON (default) or YAML (by Content-Type) object from the request body."""
    data = await read_upload(request)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if content_type in _YAML_TYPES:
            parsed = yaml.load(data, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
        elif content_type in ("application/json", ""):
            parsed = json.loads(data)
            _check_depth(parsed)
        else:
            raise api_error(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                ("header", "Content-Type"),
                f"{content_type!r} is not supported; send application/json or application/yaml",
                "unsupported_media_type",
            )
    except _TooDeep:
        raise _too_deep() from None
    except RecursionError:  # the JSON scanner's own limit (~1,000 levels) came first
        raise _too_deep() from None
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unprocessable(("body",), f"not valid {content_type}: {exc}", "parse_error") from None
    if not isinstance(parsed, dict):
        raise unprocessable(("body",), "the document must be an object (a mapping)", "type_error")
    return parsed


class _TooDeep(Exception):
    pass


def _too_deep() -> HTTPException:
    return unprocessable(
        ("body",), f"the document is nested deeper than {MAX_DOCUMENT_DEPTH} levels", "too_deep"
    )


def _check_depth(document: Any) -> None:
    """Raise ``_TooDeep`` when ``document`` nests deeper than allowed (iteratively)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise _TooDeep
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases and with bounded nesting."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DOCUMENT_DEPTH:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
