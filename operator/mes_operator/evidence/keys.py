"""The operator's evidence signing key: an ed25519 key in a Secret of the operator's own
namespace, made once by whichever replica starts first, and its public half published in a
ConfigMap beside it, which validation leads copy once and verify every package against.

The private key never leaves the Secret and this process's memory; it is never logged.
Rotation is a new Secret (delete it: the next start makes a new key, and packages signed
before name the old key id, which their readers keep).
"""

from __future__ import annotations

import base64
import logging

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret

from mes_operator.evidence.dsse import key_id, load_private_key, public_pem

__all__ = ["PUBLIC_KEY_CONFIGMAP", "SIGNING_KEY_SECRET", "ensure_signing_key", "private_pem"]

log = logging.getLogger(__name__)

SIGNING_KEY_SECRET = "holon-evidence-signing-key"  # noqa: S105 - a Secret name
PUBLIC_KEY_CONFIGMAP = "holon-evidence-key"
_LABELS = {"app.kubernetes.io/managed-by": "holon-operator", "app.kubernetes.io/part-of": "holon"}


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def _read_or_create_secret(client: AsyncClient, namespace: str) -> Ed25519PrivateKey:
    try:
        secret = await client.get(Secret, SIGNING_KEY_SECRET, namespace=namespace)
    except ApiError as exc:
        if exc.status.code != 404:
            raise
    else:
        return load_private_key(base64.b64decode((secret.data or {})["private.pem"]))
    key = Ed25519PrivateKey.generate()
    fresh = Secret(
        metadata=ObjectMeta(name=SIGNING_KEY_SECRET, namespace=namespace, labels=_LABELS),
        type="Opaque",
        immutable=True,
        data={"private.pem": base64.b64encode(private_pem(key)).decode()},
    )
    try:
        await client.create(fresh)
    except ApiError as exc:
        if exc.status.code != 409:  # another replica made it first: use theirs
            raise
        return await _read_or_create_secret(client, namespace)
    log.info("made the evidence signing key %s", key_id(key.public_key()))
    return key


async def ensure_signing_key(client: AsyncClient, namespace: str) -> Ed25519PrivateKey:
    """The signing key (made if missing), with its public key published (applied)."""
    key = await _read_or_create_secret(client, namespace)
    public = key.public_key()
    published = ConfigMap(
        metadata=ObjectMeta(name=PUBLIC_KEY_CONFIGMAP, namespace=namespace, labels=_LABELS),
        data={"public.pem": public_pem(public).decode(), "keyid": key_id(public)},
    )
    await client.apply(published, field_manager="holon-operator", force=True)
    return key
