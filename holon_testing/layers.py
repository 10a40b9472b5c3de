"""Print the import graph between packages; exit non-zero if packages form a cycle.

    python -m holon_testing.layers [ROOT ...]     # default: mes_runtime mes_operator

Each line is one package of a root (``mes_runtime.engine``) and the sibling packages it
imports. Modules may import each other freely inside a package; between packages the arrows
must point one way (the allowed directions are the contracts in ``pyproject.toml``, checked
by ``make lint``). A cycle is printed with one import per edge, so it can be found and cut.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import grimp

__all__ = ["PackageGraph", "main", "package_graph"]

DEFAULT_ROOTS = ("mes_runtime", "mes_operator")


@dataclass(frozen=True, slots=True)
class PackageGraph:
    """Imports between the direct children of one root package."""

    root: str
    #: package -> the sibling packages it imports
    edges: Mapping[str, frozenset[str]]
    #: (importer package, imported package) -> one module-level import that makes the edge
    witnesses: Mapping[tuple[str, str], tuple[str, str]]

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of more than one package, each sorted."""
        return [sorted(group) for group in _strongly_connected(self.edges) if len(group) > 1]


def _child_of(root: str, module: str) -> str | None:
    if module == root or not module.startswith(root + "."):
        return None
    return ".".join(module.split(".")[: root.count(".") + 2])


def package_graph(graph: grimp.ImportGraph, root: str) -> PackageGraph:
    """Fold the module graph of ``root`` into a graph between its direct children."""
    edges: dict[str, set[str]] = {}
    witnesses: dict[tuple[str, str], tuple[str, str]] = {}
    for importer in sorted(graph.find_descendants(root) | {root}):
        source = _child_of(root, importer)
        if source is None:
            continue
        edges.setdefault(source, set())
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            target = _child_of(root, imported)
            if target is None or target == source:
                continue
            edges[source].add(target)
            witnesses.setdefault((source, target), (importer, imported))
    return PackageGraph(
        root=root,
        edges={name: frozenset(targets) for name, targets in sorted(edges.items())},
        witnesses=witnesses,
    )


def _strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative), in a deterministic order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def render(package: PackageGraph) -> list[str]:
    """The graph as lines of text, cycles last."""
    prefix = package.root + "."

    def short(name: str) -> str:
        return name.removeprefix(prefix)

    lines = [f"{package.root}:"]
    for name, targets in package.edges.items():
        arrow = ", ".join(short(t) for t in sorted(targets)) or "-"
        lines.append(f"  {short(name):<12} -> {arrow}")
    for group in package.cycles():
        lines.append(f"  CYCLE between {', '.join(short(name) for name in group)}:")
        for source in group:
            for target in group:
                witness = package.witnesses.get((source, target))
                if witness is not None:
                    lines.append(f"    {witness[0]} imports {witness[1]}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    roots = list(argv if argv is not None else sys.argv[1:]) or list(DEFAULT_ROOTS)
    graph = grimp.build_graph(*roots, cache_dir=None)
    cyclic = False
    for root in roots:
        package = package_graph(graph, root)
        print("\n".join(render(package)))
        cyclic = cyclic or bool(package.cycles())
    if cyclic:
        print("packages import each other in a cycle (see CYCLE above)", file=sys.stderr)
        return 1
    print("no cycles between packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
