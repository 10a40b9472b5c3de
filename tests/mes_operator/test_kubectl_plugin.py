"""`kubectl mes status` rendering (pure)."""

from __future__ import annotations

from mes_operator.kubectl_plugin import main, render_status

MODULE = {
    "metadata": {"name": "batch", "namespace": "plant", "generation": 2},
    "spec": {"module": "batch-execution", "version": "1.2.0"},
    "status": {
        "phase": "Ready",
        "activeColour": "blue",
        "currentVersion": "1.2.0",
        "observedGeneration": 2,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "RuntimeAvailable", "message": "1/1"},
            {"type": "Degraded", "status": "True", "reason": "Deadline", "message": ""},
            {"type": "Progressing", "status": "True", "reason": "RollingOut", "message": ""},
            {"type": "Qualified", "status": "Unknown", "reason": "Awaiting", "message": ""},
        ],
    },
}
LABELS = {"mes.holon.dev/colour": "blue"}
CHILDREN = [
    {"kind": "Service", "metadata": {"name": "batch"}, "spec": {"selector": LABELS}},
    {
        "kind": "Deployment",
        "metadata": {"name": "batch-blue", "labels": LABELS},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "r:1.2.0"}]}}},
        "status": {"readyReplicas": 1},
    },
    {"kind": "ServiceAccount", "metadata": {"name": "batch"}},
]
PODS = [
    {
        "metadata": {"name": "batch-blue-abc", "labels": LABELS},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
]


def test_tree_lists_children_in_order_with_pods_under_their_deployment() -> None:
    lines = render_status(MODULE, CHILDREN, PODS).splitlines()
    tree = lines[lines.index(next(x for x in lines if x.startswith("RESOURCE"))) + 1 :]
    assert tree[0].startswith("batch ")
    assert tree[1].startswith("├── batch ")
    assert "ServiceAccount" in tree[1]
    assert tree[2].startswith("├── batch-blue")
    assert "1/1 ready, 1.2.0 (active)" in tree[2]
    assert tree[3].startswith("│   └── batch-blue-abc")
    assert "Running, ready=True" in tree[3]
    assert tree[4].startswith("└── batch ")
    assert "-> blue" in tree[4]


def test_conditions_are_shown_with_symbols_and_reasons() -> None:
    text = render_status(MODULE, [])
    assert "✔ Ready" in text
    assert "RuntimeAvailable" in text
    assert "✖ Degraded" in text  # Degraded=True is bad
    assert "⟳ Progressing" in text
    assert "? Qualified" in text
    healthy = render_status(
        {"status": {"conditions": [{"type": "Degraded", "status": "False"}]}}, []
    )
    assert "✔ Degraded" in healthy
    assert "Generation:    2 (observed: 2)" in text


def test_unreconciled_module_says_so() -> None:
    text = render_status({"metadata": {"name": "x"}, "spec": {}}, [])
    assert "has not reconciled" in text


def test_status_requires_a_name() -> None:
    import pytest

    with pytest.raises(SystemExit):
        main(["status"])


UPGRADING = {
    "metadata": {"name": "batch"},
    "status": {
        "currentVersion": "1.0.0",
        "upgrade": {
            "phase": "SafePoint",
            "fromVersion": "1.0.0",
            "toVersion": "1.1.0",
            "colour": "green",
            "attempt": 2,
            "startedAt": "2026-11-30T19:00:00Z",
            "phaseStartedAt": "2026-11-30T19:05:00Z",
            "held": True,
            "cause": "SafePointTimeout",
            "message": "batch B-17 phase transfer is not interruptible",
            "backupLocation": "s3://holon-backups/plant/batch/1.1.0-2.dump",
        },
        "conditions": [
            {"type": "Progressing", "status": "False", "reason": "SafePointTimeout"},
            {"type": "Ready", "status": "True", "reason": "RuntimeAvailable"},
        ],
    },
}


def test_upgrade_status_prints_the_phase_table() -> None:
    from mes_operator.kubectl_plugin import UPGRADE_ORDER, render_upgrade

    text = render_upgrade(UPGRADING)
    assert "1.0.0 -> 1.1.0 in green (attempt 2)" in text
    assert "Phase:         SafePoint (held)" in text
    assert "batch B-17 phase transfer" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert "✔ done" in rows["ExpandMigration"]
    assert "⟳ now, since 2026-11-30T19:05:00Z" in rows["SafePoint"]
    assert rows["Switch"].rstrip().endswith("·")
    assert len([r for r in rows if r in {p.value for p in UPGRADE_ORDER}]) == len(UPGRADE_ORDER)
    conditions = text.split("Conditions:")[1]
    assert "Progressing" in conditions
    assert "SafePointTimeout" in conditions
    assert "Ready" not in conditions  # only the upgrade's conditions


def test_upgrade_status_of_a_rolled_back_upgrade_and_of_none() -> None:
    from mes_operator.kubectl_plugin import render_upgrade

    upgrade = {
        **UPGRADING["status"]["upgrade"],
        "phase": "RolledBack",
        "cause": "NewVersionNotReady",
    }  # type: ignore[dict-item]
    text = render_upgrade({"metadata": {"name": "b"}, "status": {"upgrade": upgrade}})
    assert "RolledBack" in text
    assert "✖ NewVersionNotReady" in text
    assert "Upgrade:       none (version 1.0.0)" in render_upgrade(
        {"metadata": {"name": "b"}, "status": {"currentVersion": "1.0.0"}}
    )


def test_upgrade_commands_patch_spec_and_the_request_annotation() -> None:
    from datetime import UTC, datetime

    import pytest
    from mes_operator.kubectl_plugin import upgrade_patch
    from mes_operator.upgrade import REQUEST_ANNOTATION, Request, RequestVerb

    now = datetime(2026, 11, 30, 19, 50, 1, 5, tzinfo=UTC)
    assert upgrade_patch("pause", now=now) == {"spec": {"paused": True}}
    resume = upgrade_patch("resume", now=now)
    assert resume["spec"] == {"paused": False}
    for action, verb in (
        ("resume", RequestVerb.RESUME),
        ("retry", RequestVerb.RETRY),
        ("rollback", RequestVerb.ROLLBACK),
    ):
        value = upgrade_patch(action, now=now)["metadata"]["annotations"][REQUEST_ANNOTATION]
        request = Request.parse(value)  # what the operator reads back
        assert request is not None
        assert request.verb is verb
    later = upgrade_patch("retry", now=now.replace(microsecond=6))
    assert later != upgrade_patch("retry", now=now)  # each request is a new value
    with pytest.raises(ValueError, match="unknown"):
        upgrade_patch("explode", now=now)


def test_upgrade_and_rollback_parse() -> None:
    import pytest
    from mes_operator.kubectl_plugin import _parser

    args = _parser().parse_args(["upgrade", "retry", "batch", "-n", "plant"])
    assert (args.command, args.action, args.name, args.namespace) == (
        "upgrade",
        "retry",
        "batch",
        "plant",
    )
    assert _parser().parse_args(["rollback", "batch"]).command == "rollback"
    with pytest.raises(SystemExit):
        _parser().parse_args(["upgrade", "explode", "batch"])
