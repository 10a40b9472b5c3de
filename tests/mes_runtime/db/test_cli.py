"""``mes-runtime db upgrade|current|heads`` from a foreign working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mes_runtime.cli import main as cli_main
from mes_runtime.db.migrate import head_revisions


def test_upgrade_then_current_from_any_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'runtime.db'}"
    assert cli_main(["db", "--database-url", url, "current"]) == 0
    assert "(not migrated)" in capsys.readouterr().out
    contract_head = next(h for h in head_revisions() if h.startswith("contract_"))
    assert cli_main(["db", "--database-url", url, "upgrade"]) == 0
    assert contract_head in capsys.readouterr().out  # its tip implies the expand head
    assert cli_main(["db", "--database-url", url, "current"]) == 0
    assert contract_head in capsys.readouterr().out


def test_heads_lists_one_revision_per_branch(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["db", "heads"]) == 0
    assert set(capsys.readouterr().out.split()) == head_revisions()


def test_placeholder_password_in_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://holon:changeme@127.0.0.1:1/holon"
    assert cli_main(["db", "--database-url", url, "current"]) == 2
    assert "placeholder" in capsys.readouterr().err
