"""Where backups go: the object store's settings, from the environment or mounted files.

Each setting is ``HOLON_BACKUP_S3_<NAME>`` or, for a Kubernetes Secret mounted as files,
``HOLON_BACKUP_S3_<NAME>_FILE`` (the path of a file holding the value; trailing whitespace
dropped). Values are never printed; errors name the variable, not its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mes_runtime.backup.s3 import S3Config

__all__ = ["ConfigError", "StoreLocation", "load_store", "parse_location"]

PREFIX = "HOLON_BACKUP_S3_"


class ConfigError(ValueError):
    """A setting is missing or malformed (the message names it, never a secret)."""


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """``s3://bucket/prefix``: a bucket and a key prefix (no leading/trailing slash)."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def url(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}".rstrip("/")


def parse_location(url: str) -> StoreLocation:
    if not url.startswith("s3://"):
        raise ConfigError(f"expected s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"no bucket in {url!r}")
    return StoreLocation(bucket, prefix.strip("/"))


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return _value(env, name, required=False)


def _required(env: Mapping[str, str], name: str) -> str:
    value = _value(env, name, required=True)
    if not value:
        raise ConfigError(f"{PREFIX}{name} is empty")
    return value


def _value(env: Mapping[str, str], name: str, *, required: bool) -> str | None:
    var = PREFIX + name
    if env.get(var):
        return env[var].strip()
    file_var = var + "_FILE"
    if env.get(file_var):
        try:
            return Path(env[file_var]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read the file: {exc.strerror}") from None
    if required:
        raise ConfigError(f"{var} (or {file_var}) is not set")
    return None


def load_store(env: Mapping[str, str] | None = None) -> tuple[S3Config, str | None]:
    """The store's configuration and the default bucket (``HOLON_BACKUP_S3_BUCKET``)."""
    env = os.environ if env is None else env
    endpoint = _required(env, "ENDPOINT")
    access = _required(env, "ACCESS_KEY")
    secret = _required(env, "SECRET_KEY")
    region = _optional(env, "REGION") or "us-east-1"
    try:
        config = S3Config(endpoint=endpoint, access_key=access, secret_key=secret, region=region)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}ENDPOINT: {exc}") from None
    return config, _optional(env, "BUCKET")
