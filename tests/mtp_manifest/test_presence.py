"""Which declared nodes a server lacks: resolving, batching and naming, without a session.

The reads themselves are made against real OPC UA servers by the runtime's and the
operator's tests; here ``read`` is a plain function over the node ids a server would know,
so the deciding (shared by both) is pinned down exactly."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from holon_testing.vendor_mtp import build, to_bytes
from mtp_manifest import NodeProblem, NodeRef, describe, load_manifest, node_problems, resolve
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

MANIFEST = load_manifest(to_bytes(build(STIRRER)))
NAMESPACES = ("http://opcfoundation.org/UA/", "urn:other", STIRRER.namespace_uri)


def test_the_services_nodes_and_the_process_values_make_up_the_manifests() -> None:
    from_services = {k: v for s in MANIFEST.services.values() for k, v in s.nodes().items()}
    rest = set(MANIFEST.nodes()) - set(from_services)
    assert rest == {"TI101.V", "LS101.V"}
    assert all(key.startswith("Stirring") for key in MANIFEST.services["Stirring"].nodes())
    assert "Stirring/Pulse/Time.VExt" in from_services


def test_a_uri_resolves_to_the_servers_index() -> None:
    targets, problems = resolve(MANIFEST, NAMESPACES)
    assert problems == []
    assert [v for v, _ in targets] == list(MANIFEST.nodes())
    assert all(node_id.startswith("ns=2;") for _, node_id in targets)


def test_an_unserved_namespace_is_a_problem_without_a_read() -> None:
    targets, problems = resolve(MANIFEST, NAMESPACES[:2])
    assert targets == []
    assert len(problems) == len(MANIFEST.nodes())
    assert problems[0].node_id.startswith(f"nsu={STIRRER.namespace_uri};")
    assert problems[0].status == "namespace not served by the module"


async def test_reads_are_batched_and_bad_nodes_named_in_manifest_order() -> None:
    targets, _ = resolve(MANIFEST, NAMESPACES)
    gone = {targets[1][1], targets[-1][1]}
    batches: list[int] = []

    async def read(node_ids: Sequence[str]) -> list[str | None]:
        batches.append(len(node_ids))
        return ["BadNodeIdUnknown" if n in gone else None for n in node_ids]

    problems = await node_problems(MANIFEST, NAMESPACES, read, chunk=7)
    assert sum(batches) == len(targets)
    assert max(batches) == 7
    assert problems == [
        NodeProblem(targets[1][0], targets[1][1], "BadNodeIdUnknown"),
        NodeProblem(targets[-1][0], targets[-1][1], "BadNodeIdUnknown"),
    ]


async def test_a_read_that_answers_for_fewer_nodes_is_refused() -> None:
    async def short(node_ids: Sequence[str]) -> list[str | None]:
        return [None] * (len(node_ids) - 1)

    with pytest.raises(ValueError, match="statuses for"):
        await node_problems(MANIFEST, NAMESPACES, short)


def test_describe_names_the_first_few_then_counts() -> None:
    problems = [NodeProblem(f"S.V{i}", f"ns=2;i={i}", "BadNodeIdUnknown") for i in range(4)]
    assert describe(problems, limit=2) == (
        "4 declared node(s) missing or bad: S.V0 (ns=2;i=0): BadNodeIdUnknown; "
        "S.V1 (ns=2;i=1): BadNodeIdUnknown; and 2 more"
    )
    assert describe(problems[:1]) == "1 declared node(s) missing or bad: " + str(problems[0])


def test_a_node_ref_names_an_unserved_namespace() -> None:
    with pytest.raises(ValueError, match="is not served by the module"):
        NodeRef("urn:nobody", "i=1").node_id(NAMESPACES)
