"""Authentication and authorisation: argon2 passwords, opaque bearer tokens, roles,
the pure permission matrix, and e-signature re-authentication."""

from mes_runtime.auth.permissions import Permission, Role, has_permission, permissions_of
from mes_runtime.auth.users import (
    InvalidUserData,
    Signature,
    SignatureRejected,
    UserExists,
    authenticate,
    create_user,
    issue_token,
    user_for_token,
    verify_signature,
)

__all__ = [
    "InvalidUserData",
    "Permission",
    "Role",
    "Signature",
    "SignatureRejected",
    "UserExists",
    "authenticate",
    "create_user",
    "has_permission",
    "issue_token",
    "permissions_of",
    "user_for_token",
    "verify_signature",
]
