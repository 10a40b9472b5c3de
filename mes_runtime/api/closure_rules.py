"""``/api/v1/closure-rules``: auto-closure rules as approved, versioned data.

A supervisor drafts a rule version (who may import recipes may draft rules); QA approves
it with an e-signature (never its author; meaning ``approved``, over the record
``closure_rule:<id>/<version>`` whose digest is the version's stored digest, the SHA-256
of the rule's canonical JSON: what QA signs is what is evaluated), makes it effective (the
rule's previous version retires) and retires it. Only an effective version decides
anything, and only for batches that end while it is effective.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, status

from mes_runtime.api.deps import (
    AccountPolicyDep,
    AlertDep,
    ClosureRulesDep,
    JournalDep,
    SessionDep,
    require,
)
from mes_runtime.api.errors import api_error, conflict, not_found
from mes_runtime.api.schemas import Name, SignatureIn, Version
from mes_runtime.api.signing import signed, signing_responses
from mes_runtime.auth.permissions import Permission
from mes_runtime.auth.signatures import SignatureMeaning
from mes_runtime.db.models import User
from mes_runtime.domain.exceptions import ClosureRule
from mes_runtime.services.closure import RuleConflict, UnknownRule

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/closure-rules", tags=["closure-rules"])

Reader = Annotated[User, require(Permission.RECIPE_READ)]
Author = Annotated[User, require(Permission.RECIPE_IMPORT)]
Approver = Annotated[User, require(Permission.RECIPE_APPROVE)]
_VERSION = ("path", "version")


def _version_out(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("rule_id", "version", "status", "body", "digest", "created_by", "created_at")
    more = ("approved_by", "approved_at", "signature_meaning", "effective_at", "retired_at")
    return {k: row[k] for k in keys + more}


async def _one(rules: ClosureRulesDep, rule_id: str, version: int) -> dict[str, Any]:
    found = [v for v in await rules.versions(rule_id) if v["version"] == version]
    if not found:
        raise not_found(_VERSION, f"no closure rule {rule_id} version {version}")
    return _version_out(found[0])


@router.get("")
async def list_rules(_: Reader, rules: ClosureRulesDep) -> list[dict[str, Any]]:
    return [_version_out(v) for v in await rules.versions()]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "that version exists"}},
)
async def draft_rule(rule: ClosureRule, user: Author, rules: ClosureRulesDep) -> dict[str, Any]:
    try:
        await rules.create_draft(rule, author=user.username)
    except RuleConflict as exc:
        raise conflict(("body", "version"), str(exc)) from None
    return await _one(rules, rule.rule_id, rule.version)


@router.post(
    "/{rule_id}/{version}/approve",
    responses=signing_responses(
        forbidden="the author, an administrator, or a rejected signature",
        conflict="not a draft",
        meaning="a signature meaning other than approved",
    ),
)
async def approve_rule(
    rule_id: Name,
    version: Version,
    signature_in: SignatureIn,
    user: Approver,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
    rules: ClosureRulesDep,
) -> dict[str, Any]:
    row = await _one(rules, rule_id, version)
    if row["created_by"] == user.username:  # before the signature, as for recipes
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            _VERSION,
            "the author of a rule may not approve it (segregation of duties)",
            "forbidden",
        )
    signature = await signed(
        session,
        journal,
        policy,
        alert,
        user,
        signature_in,
        action="approving a closure rule",
        meaning=SignatureMeaning.APPROVED,
        record=f"closure_rule:{rule_id}/{version}",
        digest=f"sha256:{row['digest']}",
        loc=("body",),
    )
    try:
        await rules.approve(rule_id, version, signature=signature)
    except RuleConflict as exc:
        if "segregation" in str(exc):
            raise api_error(status.HTTP_403_FORBIDDEN, _VERSION, str(exc), "forbidden") from None
        raise conflict(_VERSION, str(exc)) from None
    return await _one(rules, rule_id, version)


async def _step(
    rules: ClosureRulesDep, rule_id: str, version: int, user: User, step: str, at: datetime | None
) -> dict[str, Any]:
    await _one(rules, rule_id, version)
    try:
        if step == "effective":
            await rules.make_effective(rule_id, version, actor=user.username, at=at)
        else:
            await rules.retire(rule_id, version, actor=user.username, at=at)
    except (RuleConflict, UnknownRule) as exc:
        raise conflict(_VERSION, str(exc)) from None
    return await _one(rules, rule_id, version)


_STEP_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the version's status does not allow the step"}
}


@router.post("/{rule_id}/{version}/effective", responses=_STEP_CONFLICT)
async def make_effective(
    rule_id: Name, version: Version, user: Approver, rules: ClosureRulesDep
) -> dict[str, Any]:
    return await _step(rules, rule_id, version, user, "effective", None)


@router.post("/{rule_id}/{version}/retire", responses=_STEP_CONFLICT)
async def retire_rule(
    rule_id: Name, version: Version, user: Approver, rules: ClosureRulesDep
) -> dict[str, Any]:
    return await _step(rules, rule_id, version, user, "retire", None)
