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
