"""The permission matrix, checked against an independently written table."""

from __future__ import annotations

import pytest

from mes_runtime.auth.permissions import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    grant_problem,
    has_permission,
    may_sign,
    permissions_of,
)

P = Permission
# Expected: which roles hold each permission (written out by hand from the brief).
EXPECTED: dict[str, set[str]] = {
    "batch.read": {"operator", "supervisor", "qa", "admin", "upgrade"},
    "batch.create": {"operator", "supervisor"},
    "batch.command.start": {"operator", "supervisor"},
    "batch.command.pause": {"operator", "supervisor"},
    "batch.command.resume": {"operator", "supervisor"},
    "batch.command.hold": {"operator", "supervisor"},
    "batch.command.restart": {"operator", "supervisor"},
    "batch.command.complete": {"operator", "supervisor"},
    "batch.command.stop": {"supervisor"},
    "batch.command.abort": {"supervisor"},
    "batch.command.reset": {"supervisor"},
    "batch.release": {"qa"},
    "batch.report": {"qa", "supervisor"},
    "exception.read": {"operator", "supervisor", "qa", "admin"},
    "exception.close": {"qa"},
    "recipe.read": {"operator", "supervisor", "qa", "admin"},
    "recipe.import": {"supervisor", "admin"},
    "recipe.approve": {"qa"},
    "equipment.read": {"operator", "supervisor", "qa", "admin"},
    "equipment.import": {"admin"},
    "user.manage": {"admin"},
    "journal.read": {"operator", "supervisor", "qa", "admin"},
    "journal.verify": {"qa", "admin"},
    "upgrade.manage": {"upgrade"},
}


def test_every_permission_is_in_the_expected_table() -> None:
    assert {p.value for p in Permission} == set(EXPECTED)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_matrix(role: Role, permission: Permission) -> None:
    assert has_permission([role.value], permission) == (role.value in EXPECTED[permission.value])


def test_operator_cannot_abort_or_release() -> None:
    assert not has_permission(["operator"], P.BATCH_ABORT)
    assert not has_permission(["operator"], P.BATCH_RELEASE)
    assert has_permission(["operator"], P.BATCH_START)


def test_roles_combine_and_unknown_roles_grant_nothing() -> None:
    assert permissions_of(["operator", "qa"]) == (
        ROLE_PERMISSIONS[Role.OPERATOR] | ROLE_PERMISSIONS[Role.QA]
    )
    assert permissions_of(["root", ""]) == frozenset()
    assert permissions_of([]) == frozenset()


def test_nobody_changes_their_own_roles() -> None:
    problem = grant_problem(
        granter="admin",
        granter_roles=["admin"],
        target="admin",
        old_roles=["admin"],
        new_roles=["admin", "qa"],
    )
    assert problem is not None
    assert "own roles" in problem


def test_nobody_grants_a_role_they_do_not_hold() -> None:
    problem = grant_problem(
        granter="admin",
        granter_roles=["admin"],
        target="bob",
        old_roles=["operator"],
        new_roles=["operator", "qa"],
    )
    assert problem is not None
    assert "qa" in problem
    held = grant_problem(
        granter="lead",
        granter_roles=["admin", "qa"],
        target="bob",
        old_roles=[],
        new_roles=["qa"],
    )
    removed = grant_problem(
        granter="admin",
        granter_roles=["admin"],
        target="bob",
        old_roles=["qa", "operator"],
        new_roles=["operator"],
    )
    unchanged = grant_problem(
        granter="admin",
        granter_roles=["admin"],
        target="admin",
        old_roles=["admin"],
        new_roles=["admin"],
    )
    assert (held, removed, unchanged) == (None, None, None)


def test_administrators_never_sign() -> None:
    assert may_sign(["qa"])
    assert not may_sign(["admin"])
    assert not may_sign(["qa", "admin"])
