"""A minimal S3 client: AWS Signature Version 4 over httpx, path-style addressing.

Why not boto3: the runtime needs five calls (HEAD bucket, PUT/GET/DELETE object, create a
bucket for tests), httpx is already a dependency, and boto3 + botocore would add ~20 MB to
the image for them. Uploads are streamed from a file whose SHA-256 is already known, which
is what SigV4 signs (``x-amz-content-sha256``), so the store itself rejects a body that does
not match the digest we record.

Credentials are held by :class:`S3Config` and never appear in its ``repr`` or in any error
message this module raises.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

__all__ = [
    "EMPTY_SHA256",
    "S3Config",
    "S3Error",
    "StoreClient",
    "StoreDenied",
    "StoreNotFound",
    "StoreUnreachable",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where the store is and how to sign for it (secrets excluded from ``repr``)."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"S3 endpoint must be an http(s) URL, got {self.endpoint!r}")


class S3Error(RuntimeError):
    """The store answered with an error (the message names the operation, never a secret)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class StoreUnreachable(S3Error):
    """No HTTP answer at all: DNS, refused connection, timeout, TLS."""


class StoreDenied(S3Error):
    """The store refused our credentials or signature."""


class StoreNotFound(S3Error):
    """The bucket or object does not exist."""


_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthorizationHeaderMalformed",
    "InvalidToken",
}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _query(query: Mapping[str, str]) -> str:
    """The canonical (and the sent) query string: sorted, RFC 3986 encoded."""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )


def _error_code(body: bytes) -> str:
    match = re.search(rb"<Code>([^<]{1,100})</Code>", body)
    return match.group(1).decode(errors="replace") if match else ""


class StoreClient:
    """Signed requests to one S3-compatible endpoint."""

    def __init__(self, config: S3Config, *, timeout: float = 30.0) -> None:
        self._config = config
        parts = urlsplit(config.endpoint)
        self._host = parts.netloc
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path.rstrip("/")
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- signing -------------------------------------------------------------------------

    def _path(self, bucket: str, key: str = "") -> str:
        path = f"{self._base_path}/{bucket}"
        if key:
            path += "/" + key
        return quote(path, safe="/-_.~")

    def _signed_headers(
        self, method: str, path: str, query: Mapping[str, str], payload_sha256: str
    ) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers = {
            "host": self._host,
            "x-amz-content-sha256": payload_sha256,
            "x-amz-date": amz_date,
        }
        signed = ";".join(sorted(headers))
        canonical_query = _query(query)
        canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
        canonical = "\n".join(
            [method, path, canonical_query, canonical_headers, signed, payload_sha256]
        )
        scope = f"{day}/{self._config.region}/s3/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                amz_date,
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = _hmac(("AWS4" + self._config.secret_key).encode(), day)
        for part in (self._config.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._config.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        del headers["host"]  # httpx sets it from the URL (the same value)
        return headers

    def _send(
        self,
        what: str,
        method: str,
        bucket: str,
        key: str = "",
        *,
        payload_sha256: str = EMPTY_SHA256,
        content: bytes | Iterator[bytes] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        stream: bool = False,
        query: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        path = self._path(bucket, key)
        headers = self._signed_headers(method, path, query or {}, payload_sha256)
        headers.update(extra_headers or {})
        url = self._origin + path + (f"?{_query(query)}" if query else "")
        request = self._http.build_request(method, url, headers=headers, content=content)
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise StoreUnreachable(
                f"object store unreachable at {self.endpoint}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code >= 300:
            body = response.read()
            response.close()
            code = _error_code(body)
            label = f"{what}: HTTP {response.status_code}" + (f" {code}" if code else "")
            if response.status_code == 403 or code in _DENIED_CODES:
                raise StoreDenied(
                    f"object store at {self.endpoint} refused the credentials ({label})",
                    status=response.status_code,
                    code=code,
                )
            if response.status_code == 404:
                raise StoreNotFound(label, status=404, code=code)
            raise S3Error(label, status=response.status_code, code=code)
        return response

    # -- operations ----------------------------------------------------------------------

    def check_bucket(self, bucket: str) -> None:
        """HEAD the bucket: reachable, credentials accepted, bucket exists (or raise)."""
        try:
            self._send(f"HEAD bucket {bucket!r}", "HEAD", bucket).close()
        except StoreNotFound:
            raise StoreNotFound(
                f"bucket {bucket!r} does not exist at {self.endpoint}", status=404
            ) from None

    def create_bucket(self, bucket: str) -> None:
        self._send(f"create bucket {bucket!r}", "PUT", bucket).close()

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self._send(f"PUT {key}", "PUT", bucket, key, payload_sha256=digest, content=data).close()

    def put_file(self, bucket: str, key: str, path: Path, sha256: str, size: int) -> None:
        """Stream ``path`` up; the store checks the body against ``sha256``."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        self._send(
            f"PUT {key}",
            "PUT",
            bucket,
            key,
            payload_sha256=sha256,
            content=chunks(),
            extra_headers={"content-length": str(size)},
        ).close()

    def get_bytes(self, bucket: str, key: str) -> bytes:
        response = self._send(f"GET {key}", "GET", bucket, key)
        return response.content

    def get_file(self, bucket: str, key: str, dest: Path) -> tuple[int, str]:
        """Stream the object into ``dest``; return (size, sha256 hex) of what arrived."""
        digest = hashlib.sha256()
        size = 0
        response = self._send(f"GET {key}", "GET", bucket, key, stream=True)
        try:
            with dest.open("wb") as f:
                for chunk in response.iter_bytes(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
        except httpx.TransportError as exc:
            raise StoreUnreachable(
                f"object store unreachable at {self.endpoint}: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            response.close()
        return size, digest.hexdigest()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (ListObjectsV2, following continuation tokens)."""
        keys: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            body = self._send(f"LIST {prefix!r}", "GET", bucket, query=query).content
            keys += [html.unescape(k.decode()) for k in re.findall(rb"<Key>([^<]*)</Key>", body)]
            more = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
            if not more or b"<IsTruncated>true</IsTruncated>" not in body:
                return keys
            token = html.unescape(more.group(1).decode())

    def delete(self, bucket: str, key: str) -> None:
        self._send(f"DELETE {key}", "DELETE", bucket, key).close()
