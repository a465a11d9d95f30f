"""Imports point one way: the runtime package `openparty` needs nothing above it,
and no shipped code or script reaches into the tests."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def offenders(folders: list[str], forbidden: set[str]) -> list[str]:
    return sorted(f"{path.relative_to(REPO)} imports {name}"
                  for folder in folders for path in (REPO / folder).rglob("*.py")
                  for name in imported_packages(path) & forbidden)


def test_the_runtime_package_imports_nothing_above_it():
    assert offenders(["openparty"], {"functions", "workers", "localstack", "tests"}) == []


def test_the_apps_import_neither_the_tooling_nor_the_tests():
    assert offenders(["functions", "workers"], {"localstack", "tests"}) == []


def test_tooling_and_scripts_do_not_import_the_tests():
    assert offenders(["localstack", "scripts"], {"tests"}) == []
