"""Roles and the permission matrix: pure data, no I/O, the single place access is decided.

Segregation of duties (21 CFR Part 11 / Annex 11): an operator runs batches but cannot abort
or release them; a supervisor may stop, abort and reset, import recipes and read batch
reports; QA approves recipes, closes exceptions, releases batches and reads their reports;
an admin manages users and equipment but, by design, does not run or release batches. A
person who needs two duties gets two roles.

Administration and approval stay apart however roles are combined: nobody changes their own
roles, nobody grants a role they do not hold themselves (so an administrator cannot make an
accomplice, or a second account of their own, a QA approver), and nobody holding the admin
role signs electronically, whatever else they hold (:func:`may_sign`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

__all__ = [
    "NON_SIGNING_ROLES",
    "ROLE_PERMISSIONS",
    "Permission",
    "Role",
    "grant_problem",
    "has_permission",
    "may_sign",
    "permissions_of",
]


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"
    UPGRADE = "upgrade"  # the operator's account: moves batch ownership at an upgrade's switch


class Permission(StrEnum):
    BATCH_READ = "batch.read"
    BATCH_CREATE = "batch.create"
    BATCH_START = "batch.command.start"
    BATCH_PAUSE = "batch.command.pause"
    BATCH_RESUME = "batch.command.resume"
    BATCH_HOLD = "batch.command.hold"
    BATCH_COMPLETE = "batch.command.complete"  # end a continuous procedure's phase
    BATCH_RESTART = "batch.command.restart"
    BATCH_STOP = "batch.command.stop"
    BATCH_ABORT = "batch.command.abort"
    BATCH_RESET = "batch.command.reset"
    BATCH_RELEASE = "batch.release"
    BATCH_REPORT = "batch.report"  # the batch record as PDF/HTML/BatchML (QA, supervisor)
    EXCEPTION_READ = "exception.read"
    EXCEPTION_CLOSE = "exception.close"
    RECIPE_READ = "recipe.read"
    RECIPE_IMPORT = "recipe.import"
    RECIPE_APPROVE = "recipe.approve"
    EQUIPMENT_READ = "equipment.read"
    EQUIPMENT_IMPORT = "equipment.import"
    USER_MANAGE = "user.manage"
    JOURNAL_READ = "journal.read"
    JOURNAL_VERIFY = "journal.verify"
    UPGRADE_MANAGE = "upgrade.manage"  # grant batch ownership to a colour (blue-green)


P = Permission
_READ = frozenset({P.BATCH_READ, P.EXCEPTION_READ, P.RECIPE_READ, P.EQUIPMENT_READ, P.JOURNAL_READ})
_OPERATE = frozenset(
    {
        P.BATCH_CREATE,
        P.BATCH_START,
        P.BATCH_PAUSE,
        P.BATCH_RESUME,
        P.BATCH_HOLD,
        P.BATCH_RESTART,
        P.BATCH_COMPLETE,
    }
)
_SUPERVISE = frozenset(
    {P.BATCH_STOP, P.BATCH_ABORT, P.BATCH_RESET, P.RECIPE_IMPORT, P.BATCH_REPORT}
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.OPERATOR: _READ | _OPERATE,
    Role.SUPERVISOR: _READ | _OPERATE | _SUPERVISE,
    Role.QA: _READ
    | {P.BATCH_RELEASE, P.BATCH_REPORT, P.EXCEPTION_CLOSE, P.RECIPE_APPROVE, P.JOURNAL_VERIFY},
    Role.ADMIN: _READ | {P.USER_MANAGE, P.EQUIPMENT_IMPORT, P.RECIPE_IMPORT, P.JOURNAL_VERIFY},
    # a machine account, held by nobody else: reads batches (the safe point) and moves
    # ownership between colours; it cannot command, sign, import or manage users
    Role.UPGRADE: frozenset({P.BATCH_READ, P.UPGRADE_MANAGE}),
}


def permissions_of(roles: Iterable[str]) -> frozenset[Permission]:
    """Union of the permissions of ``roles``; unknown role names grant nothing."""
    granted: set[Permission] = set()
    for name in roles:
        try:
            granted |= ROLE_PERMISSIONS[Role(name)]
        except ValueError:
            continue
    return frozenset(granted)


def has_permission(roles: Iterable[str], permission: Permission) -> bool:
    return permission in permissions_of(roles)


#: Roles whose holders never sign electronically (administration is not approval).
NON_SIGNING_ROLES = frozenset({Role.ADMIN, Role.UPGRADE})


def may_sign(roles: Iterable[str]) -> bool:
    return not any(role in NON_SIGNING_ROLES for role in roles)


def grant_problem(
    *,
    granter: str,
    granter_roles: Iterable[str],
    target: str | None,
    old_roles: Iterable[str],
    new_roles: Iterable[str],
) -> str | None:
    """Why ``granter`` may not change ``target``'s roles from ``old_roles`` to ``new_roles``,
    or None (``target`` None: an account being created). Removing a role is always allowed
    (from someone else); adding one needs it held."""
    old, new = set(old_roles), set(new_roles)
    if old == new:
        return None
    if granter == target:
        return "nobody changes their own roles (segregation of duties)"
    missing = sorted((new - old) - set(granter_roles))
    if missing:
        return (
            f"you cannot grant {', '.join(missing)}: nobody grants a role they do not hold "
            "(segregation of duties)"
        )
    return None
