"""Authentication and authorisation: argon2 passwords the users choose themselves, opaque
bearer tokens, roles, the pure permission matrix with its segregation of duties, lockout,
and e-signature re-authentication."""

from mes_runtime.auth.lockout import LockoutPolicy
from mes_runtime.auth.permissions import Permission, Role, has_permission, permissions_of
from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.auth.users import (
    Attempt,
    InvalidUserData,
    Outcome,
    SetupTokenInvalid,
    UserExists,
    authenticate,
    create_user,
    enroll_user,
    issue_token,
    sign,
    user_for_token,
)

__all__ = [
    "Attempt",
    "InvalidUserData",
    "LockoutPolicy",
    "Outcome",
    "Permission",
    "Role",
    "SetupTokenInvalid",
    "Signature",
    "SignatureMeaning",
    "UserExists",
    "authenticate",
    "create_user",
    "enroll_user",
    "has_permission",
    "issue_token",
    "permissions_of",
    "sign",
    "user_for_token",
]
