"""Connect to an OPC UA endpoint and look for the MTP services it must offer.

The one piece of I/O the Equipment reconcile needs, kept free of Kubernetes so it can be
tested against a real OPC UA server. The result says *what* is wrong (unreachable,
certificate rejected, service missing) because a platform team reads it in
``kubectl describe`` at 3 a.m., and *how long* the check took because BioPhorum's target
for verifying a standard interface is a duration.

How a service is recognised: by shape, not by address. Vendors lay a module out as they
like (``ns=2;s=|var|BR101.Application.MTP.Services.Cultivate.StateCur`` on one PLC,
``ns=3;i=7042`` on another, services as objects or as structured variables, nested under
device, application and service-set folders), so node ids, namespace indexes and depths
cannot be relied on. What every MTP ServiceControl (VDI/VDE/NAMUR 2658-4) has is a
current state ``StateCur`` and the enabled commands ``CommandEn``: a node below
``Objects`` with both among its children is a service, named by its browse name. Folders,
procedures, parameters and process values do not have that shape, so requiring one of
those never passes for a service.

With the module's MTP manifest (``spec.manifest``), nothing is guessed: the manifest is
read with the reader the runtime imports it with (:mod:`mtp_manifest`), every node it
declares is read once, in batches, and must exist and read good - the same test, on the
same code, that makes the runtime call a module connected - and the services are the
manifest's, each present only when all of its nodes are. A bad node is named by its
manifest path, node id and status, because that is what a vendor fixes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes, get_name_and_doc
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from mes_operator.equipment.outcome import CheckResult, ClientCredentials, ManifestUnavailable
from mtp_manifest import ModuleManifest, NodeProblem, describe, node_problems

SERVICE_SIGNATURE = frozenset({"StateCur", "CommandEn"})
"""Children every MTP ServiceControl has; a node with all of them is a service."""
MAX_DEPTH = 12
"""Levels below Objects to browse: a PLC nests module -> device -> application ->
program -> service set -> service; leave room for vendors."""
MAX_NODES = 20_000
"""Stop browsing a pathological address space rather than hang the operator."""
BROWSE_CHUNK = 250
"""Nodes per Browse request, unless the server announces a lower MaxNodesPerBrowse."""
MESSAGE_NAMES = 20
"""Offered services listed in a condition message before it says "and N more"."""
MESSAGE_NODES = 5
"""Missing nodes named in a condition message before it says "and N more"."""

_CERTIFICATE_CODES = frozenset(
    {
        "BadCertificateInvalid",
        "BadCertificateUntrusted",
        "BadCertificateTimeInvalid",
        "BadCertificateRevoked",
        "BadCertificateUseNotAllowed",
        "BadCertificateUriInvalid",
        "BadCertificateHostNameInvalid",
        "BadSecurityChecksFailed",
        "BadSecurityPolicyRejected",
        "BadIdentityTokenRejected",
    }
)

_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}


@dataclass(frozen=True, slots=True)
class ServiceSurvey:
    """What browsing an address space found: service names, and whether it was cut short."""

    services: frozenset[str]
    nodes_browsed: int
    complete: bool


async def check_equipment(
    endpoint: str,
    required_services: Iterable[str],
    *,
    connect_timeout: float = 5.0,
    credentials: ClientCredentials | None = None,
    max_nodes: int = MAX_NODES,
    manifest: ModuleManifest | ManifestUnavailable | None = None,
) -> CheckResult:
    """Connect to ``endpoint`` and report which of ``required_services`` it offers: from
    ``manifest`` when given (all of its services when none are required), else by browsing."""
    required = tuple(dict.fromkeys(required_services))
    started = time.perf_counter()

    def result(**fields: object) -> CheckResult:
        elapsed = round(time.perf_counter() - started, 4)
        return CheckResult(duration_seconds=elapsed, **fields)  # type: ignore[arg-type]

    client = Client(url=endpoint, timeout=connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout * 2):
            if credentials is not None:
                await _secure(client, credentials)
            await client.connect()
    except UaStatusCodeError as exc:
        code = _code_name(exc)
        reason = "CertificateRejected" if code in _CERTIFICATE_CODES else "ConnectionRejected"
        return result(
            connected=False,
            verified=False,
            reason=reason,
            message=f"{endpoint} refused the session: {code}",
        )
    except (OSError, TimeoutError, UaError) as exc:
        return result(
            connected=False,
            verified=False,
            reason="Unreachable",
            message=f"cannot reach {endpoint}: {type(exc).__name__}: {exc}".rstrip(": "),
        )
    if manifest is not None:
        try:
            async with asyncio.timeout(connect_timeout * 4):
                fields = await _verify_manifest(client, endpoint, manifest, required)
            return result(**fields)
        except (OSError, TimeoutError, UaError) as exc:
            return result(
                connected=True,
                verified=False,
                reason="ReadFailed",
                message=f"connected to {endpoint} but reading the manifest's nodes failed: "
                f"{type(exc).__name__}",
            )
        finally:
            await _disconnect(client)
    try:
        async with asyncio.timeout(connect_timeout * 4):
            survey = await survey_services(client, max_nodes=max_nodes)
    except (OSError, TimeoutError, UaError) as exc:
        return result(
            connected=True,
            verified=False,
            reason="BrowseFailed",
            message=f"connected to {endpoint} but browsing failed: {type(exc).__name__}",
        )
    finally:
        await _disconnect(client)
    found = tuple(s for s in required if s in survey.services)
    missing = tuple(s for s in required if s not in survey.services)
    offered = tuple(sorted(survey.services))
    if missing:
        return result(
            connected=True,
            verified=False,
            reason="ServiceMissing",
            message=missing_message(endpoint, missing, offered, survey),
            found=found,
            missing=missing,
            offered=offered,
        )
    return result(
        connected=True,
        verified=True,
        reason="AllServicesPresent",
        message=f"{endpoint} offers all {len(required)} required MTP service(s)",
        found=found,
        offered=offered,
    )


async def _verify_manifest(
    client: Client,
    endpoint: str,
    manifest: ModuleManifest | ManifestUnavailable,
    required: Sequence[str],
) -> dict[str, Any]:
    """The result fields of checking the manifest's nodes on a connected ``client``."""
    if isinstance(manifest, ManifestUnavailable):
        return {
            "connected": True,
            "verified": False,
            "reason": manifest.reason,
            "message": manifest.message,
        }
    namespaces = await client.get_namespace_array()

    async def read(node_ids: Sequence[str]) -> list[str | None]:
        return await read_statuses(client, node_ids)

    problems = await node_problems(manifest, namespaces, read)
    return manifest_verdict(endpoint, manifest, required, problems)


def manifest_verdict(
    endpoint: str,
    manifest: ModuleManifest,
    required: Sequence[str],
    problems: Sequence[NodeProblem],
) -> dict[str, Any]:
    """Found and missing services, reason and message from the nodes that read bad.

    A service is present when the manifest declares it and all of its nodes read good;
    ``required`` empty means every declared service. Missing nodes are named first (they
    are what a vendor fixes), then the services they take out."""
    bad = {p.variable for p in problems}
    present = {
        name for name, service in manifest.services.items() if not bad & service.nodes().keys()
    }
    wanted = tuple(required) or tuple(manifest.services)
    found = tuple(s for s in wanted if s in present)
    missing = tuple(s for s in wanted if s not in present)
    fields: dict[str, Any] = {
        "connected": True,
        "verified": not problems and not missing,
        "found": found,
        "missing": missing,
        "offered": tuple(sorted(present)),
        "missing_nodes": tuple(problems),
    }
    undeclared = [s for s in missing if s not in manifest.services]
    if problems:
        services = f"; services missing: {', '.join(missing)}" if missing else ""
        fields["reason"] = "NodesMissing"
        fields["message"] = (
            f"{endpoint} does not serve manifest {manifest.name!r}: "
            f"{describe(problems, limit=MESSAGE_NODES)}{services}"
        )
    elif undeclared:
        fields["reason"] = "ServiceMissing"
        fields["message"] = (
            f"manifest {manifest.name!r} declares no service {', '.join(undeclared)}; "
            f"it declares {', '.join(sorted(manifest.services)) or 'none'}"
        )
    else:
        fields["reason"] = "AllServicesPresent"
        fields["message"] = (
            f"{endpoint} serves all {len(manifest.nodes())} node(s) of manifest "
            f"{manifest.name!r}: {len(wanted)} MTP service(s)"
        )
    return fields


async def read_statuses(client: Client, node_ids: Sequence[str]) -> list[str | None]:
    """One Read request: per node, its status name when it does not read good."""
    ids = [ua.NodeId.from_string(node_id) for node_id in node_ids]
    values = await client.uaclient.read_attributes(ids, AttributeIds.Value)
    return [
        None if not v.StatusCode or v.StatusCode.is_good() else v.StatusCode.name for v in values
    ]


def missing_message(
    endpoint: str, missing: Sequence[str], offered: Sequence[str], survey: ServiceSurvey
) -> str:
    """Name what is missing first (it is what gets fixed), then what the endpoint has."""
    message = f"{endpoint} lacks required MTP service(s): {', '.join(missing)}"
    if offered:
        shown = ", ".join(offered[:MESSAGE_NAMES])
        more = len(offered) - MESSAGE_NAMES
        message += f"; it offers {shown}" + (f" and {more} more" if more > 0 else "")
    else:
        signature = " and ".join(sorted(SERVICE_SIGNATURE))
        message += f"; it offers no MTP service (no node below Objects with {signature})"
    if not survey.complete:
        message += f" (browse stopped after {survey.nodes_browsed} nodes)"
    return message


def is_service(child_names: Iterable[str]) -> bool:
    """Whether a node with these children is an MTP service (see the module docstring)."""
    return SERVICE_SIGNATURE.issubset(child_names)


async def survey_services(client: Client, *, max_nodes: int = MAX_NODES) -> ServiceSurvey:
    """Browse breadth-first below Objects for nodes shaped like a service.

    Objects and variables are both followed (a PLC may expose a service as a structured
    variable), standard namespace-0 nodes such as ``Server`` are not, a node reached twice
    is browsed once, and a service's own children (its procedures and parameters) are not
    browsed: nothing below a service is another service.
    """
    chunk = await _browse_chunk(client)
    frontier: list[tuple[ua.NodeId, str]] = [(_ns0(ObjectIds.ObjectsFolder), "Objects")]
    visited = {frontier[0][0]}
    services: set[str] = set()
    browsed = 0
    for _level in range(MAX_DEPTH):
        if not frontier:
            break
        room = max(max_nodes - browsed, 0)
        level, frontier = frontier[:room], frontier[room:]
        if not level:
            break
        children = await _browse_children(client, [node for node, _ in level], chunk)
        browsed += len(level)
        for (_node, name), refs in zip(level, children, strict=True):
            if is_service(ref.BrowseName.Name for ref in refs):
                services.add(name)
                continue
            for ref in refs:
                child = _local_node_id(ref)
                if child is None or child.NamespaceIndex == 0 or child in visited:
                    continue
                visited.add(child)
                frontier.append((child, str(ref.BrowseName.Name)))
    return ServiceSurvey(services=frozenset(services), nodes_browsed=browsed, complete=not frontier)


def _local_node_id(ref: ua.ReferenceDescription) -> ua.NodeId | None:
    """The target as a plain NodeId, or None for a node on another server."""
    target = ref.NodeId
    if getattr(target, "ServerIndex", 0):
        return None
    return ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)


async def _browse_chunk(client: Client) -> int:
    """Nodes per Browse request: ours, or the server's MaxNodesPerBrowse if lower."""
    node = client.get_node(
        _ns0(ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse)
    )
    try:
        limit = await node.read_value()
    except UaError:
        return BROWSE_CHUNK
    if isinstance(limit, int) and limit > 0:
        return min(limit, BROWSE_CHUNK)
    return BROWSE_CHUNK


async def _browse_children(
    client: Client, nodes: Sequence[ua.NodeId], chunk: int
) -> list[list[ua.ReferenceDescription]]:
    """Hierarchical Object and Variable children of each node, in a few Browse requests.

    A node the server cannot browse counts as having no children; one refused for lack of
    continuation points (servers limit how many a session holds) is browsed again alone.
    """
    children: list[list[ua.ReferenceDescription]] = []
    for start in range(0, len(nodes), chunk):
        batch = nodes[start : start + chunk]
        results = await client.uaclient.browse(_browse_parameters(batch))
        # drain every continuation point first, so the retries below can get one
        drained = [
            None if _refused(outcome) else await _all_references(client, outcome)
            for outcome in results
        ]
        for node, refs in zip(batch, drained, strict=True):
            if refs is None:
                retried = (await client.uaclient.browse(_browse_parameters([node])))[0]
                refs = await _all_references(client, retried)
            children.append(refs)
    return children


def _refused(outcome: ua.BrowseResult) -> bool:
    return bool(outcome.StatusCode.value == StatusCodes.BadNoContinuationPoints)


def _browse_parameters(nodes: Sequence[ua.NodeId]) -> ua.BrowseParameters:
    mask = ua.NodeClass.Object | ua.NodeClass.Variable
    parameters = ua.BrowseParameters()
    parameters.RequestedMaxReferencesPerNode = 0
    parameters.NodesToBrowse = [
        ua.BrowseDescription(
            NodeId=node,
            BrowseDirection=ua.BrowseDirection.Forward,
            ReferenceTypeId=_ns0(ObjectIds.HierarchicalReferences),
            IncludeSubtypes=True,
            NodeClassMask=mask,
            ResultMask=ua.BrowseResultMask.All,
        )
        for node in nodes
    ]
    return parameters


async def _all_references(
    client: Client, outcome: ua.BrowseResult
) -> list[ua.ReferenceDescription]:
    """The references of one browse result, following its continuation points."""
    if not outcome.StatusCode.is_good():
        return []
    references = list(outcome.References or [])
    point = outcome.ContinuationPoint
    while point:
        parameters = ua.BrowseNextParameters()
        parameters.ContinuationPoints = [point]
        parameters.ReleaseContinuationPoints = False
        following = (await client.uaclient.browse_next(parameters))[0]
        if not following.StatusCode.is_good():
            break
        references.extend(following.References or [])
        point = following.ContinuationPoint
    return references


def _code_name(exc: UaStatusCodeError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return str(get_name_and_doc(code)[0])
    return type(exc).__name__


async def _secure(client: Client, credentials: ClientCredentials) -> None:
    policy = _POLICIES.get(credentials.policy)
    if policy is None:
        raise UaError(f"unsupported security policy {credentials.policy}")
    await client.set_security(
        policy,
        certificate=credentials.certificate,
        private_key=credentials.private_key,
        mode=getattr(ua.MessageSecurityMode, credentials.mode),
    )


async def _disconnect(client: Client) -> None:
    try:
        await client.disconnect()
    except (OSError, UaError, TimeoutError):
        return


def _ns0(identifier: int) -> ua.NodeId:
    """A node of the standard namespace, by its numeric id."""
    return ua.NodeId(ua.Int32(identifier))
