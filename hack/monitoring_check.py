"""``make chart-check`` for the chart's monitoring files: alert rules and the dashboard.

* ``promtool check rules`` on the rules as the chart renders them into its PrometheusRule
  (helm template), or on ``files/prometheus-rules.yaml`` itself when helm is not here;
* a lint of ``files/dashboard.json``: valid JSON, a uid and title, unique panel ids, every
  panel placed and with at least one query;
* every ``holon_*`` name that an alert or a panel queries is a metric the runtime or the
  operator really exports (a renamed metric would otherwise leave a silent alert);
* every alert has a summary, a description and a runbook.

Exit status 1 with one line per problem.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from hack.project import REPO

CHART = REPO / "charts" / "holon"
RULES = CHART / "files" / "prometheus-rules.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
_NAME = re.compile(r"\bholon_[a-z0-9_]+")


def exported_names() -> set[str]:
    """Sample names (``_total``, ``_bucket`` ... included) the runtime and operator export."""
    from mes_operator.metrics import REGISTRY

    from mes_runtime.observability.metrics import RuntimeMetrics

    runtime = RuntimeMetrics()
    runtime.watch_equipment(dict)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    names: set[str] = set()
    for registry in (runtime.registry, REGISTRY):
        for family in registry.collect():  # families without a labelled series yet too
            names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def _unknown(expr: str, known: set[str]) -> list[str]:
    return sorted(set(_NAME.findall(expr)) - known)


def rule_problems(rules: dict[str, Any], known: set[str]) -> Iterator[str]:
    for group in rules.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            for missing in _unknown(str(rule.get("expr", "")), known):
                yield f"rule {name}: queries {missing}, which nothing exports"
            annotations = rule.get("annotations") or {}
            for key in ("summary", "description", "runbook"):
                if rule.get("alert") and not annotations.get(key):
                    yield f"alert {name}: no {key} annotation"


def dashboard_problems(dashboard: dict[str, Any], known: set[str]) -> Iterator[str]:
    for key in ("uid", "title", "panels", "schemaVersion"):
        if not dashboard.get(key):
            yield f"dashboard: no {key}"
    ids: set[int] = set()
    for panel in dashboard.get("panels") or []:
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            yield f"panel {title!r}: duplicate id {panel.get('id')}"
        ids.add(panel.get("id"))
        if not {"h", "w", "x", "y"} <= set(panel.get("gridPos") or {}):
            yield f"panel {title!r}: no gridPos"
        targets = panel.get("targets") or []
        if not targets:
            yield f"panel {title!r}: no query"
        for target in targets:
            for missing in _unknown(str(target.get("expr", "")), known):
                yield f"panel {title!r}: queries {missing}, which nothing exports"


def rendered_rules() -> dict[str, Any]:
    """The PrometheusRule's spec as helm renders it; the source file without helm."""
    helm = shutil.which("helm") or next(
        (str(p) for p in sorted((Path.home() / ".cache/holon/bin").glob("[!.]*/helm"))), None
    )
    if helm is None:
        print("helm not found: checking files/prometheus-rules.yaml as written")
        return dict(yaml.safe_load(RULES.read_text()))
    out = subprocess.run(
        [helm, "template", "holon", str(CHART), "--show-only", "templates/monitoring.yaml",
         "--set", "monitoring.prometheusRule.enabled=true"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for doc in yaml.safe_load_all(out):
        if doc and doc.get("kind") == "PrometheusRule":
            return dict(doc["spec"])
    raise SystemExit("the chart rendered no PrometheusRule")


def promtool(rules: dict[str, Any]) -> list[str]:
    tool = shutil.which("promtool")
    if tool is None:
        return ["promtool not found: run hack/setup.sh (Debian package prometheus)"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(rules, file)
        file.flush()
        result = subprocess.run(
            [tool, "check", "rules", file.name], capture_output=True, text=True, check=False
        )
    print(result.stdout.strip())
    return [] if result.returncode == 0 else [f"promtool: {result.stderr.strip()}"]


def main() -> int:
    known = exported_names()
    rules = rendered_rules()
    problems = [*promtool(rules), *rule_problems(rules, known)]
    problems += dashboard_problems(json.loads(DASHBOARD.read_text()), known)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("monitoring: rules and dashboard OK")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
