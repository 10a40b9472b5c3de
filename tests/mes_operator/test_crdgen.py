"""crdgen: writes crds/ and the chart templates, and detects drift."""

from __future__ import annotations

from pathlib import Path

import yaml
from mes_operator.crdgen import drift, main, render_chart_template, render_crd
from mes_operator.models.crds import KINDS, crd


def test_write_then_check_then_detect_a_hand_edit(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert drift(tmp_path) == []
    assert main(["--root", str(tmp_path), "--check"]) == 0
    target = tmp_path / "crds" / "mesmodules.yaml"
    target.write_text(target.read_text().replace("maximum: 10", "maximum: 11"))
    assert drift(tmp_path) == [target]


def test_chart_template_is_conditional_kept_and_same_spec() -> None:
    text = render_crd(crd(KINDS[0]))
    template = render_chart_template(text)
    assert template.startswith("{{- if .Values.crds.enabled }}")
    assert "helm.sh/resource-policy: keep" in template
    body = "\n".join(line for line in template.splitlines() if "{{" not in line)
    assert yaml.safe_load(body)["spec"] == yaml.safe_load(text)["spec"]
