"""The import contract is complete, and no package reaches into a sibling's private names."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hall", "ticketing", "tide", "voice", "displays")
ROOT_MODULES = {"hall.app", "hall.cli", "hall.apidoc"}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _modules(package: str) -> set[str]:
    """The package's direct modules and subpackages."""
    files = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
    folders = {p.parent.name for p in (ROOT / package).glob("*/__init__.py")}
    return {f"{package}.{name}" for name in files | folders}


def test_every_hall_module_is_root_or_foundation() -> None:
    foundation = set(_contracts()["foundation"]["source_modules"])  # type: ignore[arg-type]
    assert _modules("hall") == foundation | ROOT_MODULES, (
        "add a new hall/ module to [tool.importlinter] 'foundation' in pyproject.toml "
        "(or, for a composition-root module, to the 'layers' contract)")


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_package_imports_private_names_of_another() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                other = node.module.split(".")[0]
                if other not in PACKAGES or other == package:
                    continue
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(part.startswith("_") and part != "__init__"
                                  for part in node.module.split(".")):
                    found.append(f"{path.relative_to(ROOT)}: from {node.module} "
                                 f"import {', '.join(private) or '…'}")
    assert not found, "private names used across packages:\n" + "\n".join(found)
