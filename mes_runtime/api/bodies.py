"""Reading uploaded documents (recipes as JSON or YAML) with clear, located errors."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request, status

from mes_runtime.api.errors import api_error, unprocessable

__all__ = ["MAX_DOCUMENT_BYTES", "read_document", "read_upload"]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
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
            parsed = yaml.safe_load(data)
        elif content_type in ("application/json", ""):
            parsed = json.loads(data)
        else:
            raise api_error(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                ("header", "Content-Type"),
                f"{content_type!r} is not supported; send application/json or application/yaml",
                "unsupported_media_type",
            )
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unprocessable(("body",), f"not valid {content_type}: {exc}", "parse_error") from None
    if not isinstance(parsed, dict):
        raise unprocessable(("body",), "the document must be an object (a mapping)", "type_error")
    return parsed
