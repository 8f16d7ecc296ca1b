"""The sans-IO boundary of sentinel/core: no I/O, clock, threads, logging or global randomness."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from tests.sentinel.cluster import Cluster

CORE = Path(__file__).resolve().parents[2] / "sentinel" / "core"
FORBIDDEN = {
    "trio",
    "socket",
    "asyncio",
    "time",
    "random",
    "os",
    "threading",
    "logging",
    "structlog",
    "subprocess",
    "selectors",
    "select",
    "signal",
    "datetime",
    "pathlib",
    "multiprocessing",
}


def _modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def test_core_modules_exist() -> None:
    names = {p.stem for p in _modules()}
    assert {"config", "state", "events", "actions", "info", "hello", "instances", "detect"} <= names
    assert {"election", "selection", "failover", "core", "timers"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_forbidden_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "random":
                    continue  # allowed for the random.Random type only: checked below
                assert top not in FORBIDDEN, f"{path.name} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if top == "random":
                assert [a.name for a in node.names] == ["Random"], f"{path.name}: from random import ..."
                continue
            assert top not in FORBIDDEN, f"{path.name} imports from {node.module}"
    # `random` may only ever be used as `random.Random` (the injected generator's type).
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "random":
            parent = parents.get(node)
            assert isinstance(parent, ast.Attribute) and parent.attr == "Random", (
                f"{path.name}:{node.lineno} uses the random module beyond the random.Random type"
            )


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_builtin_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("open", "print", "input", "exec", "eval"), (
                f"{path.name} calls {node.func.id}"
            )


def test_core_only_imports_itself_and_stdlib() -> None:
    allowed_stdlib = {"__future__", "dataclasses", "enum", "typing", "json", "ipaddress", "random"}
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert node.module.startswith("sentinel.core") or top in allowed_stdlib, (
                    path.name,
                    node.module,
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name in allowed_stdlib, (path.name, alias.name)


def test_global_random_state_untouched() -> None:
    random.seed(12345)
    before = random.getstate()
    c = Cluster(seed=7)
    c.run(3000)
    c.kill(("10.0.0.1", 6379))
    c.run(5000)
    assert random.getstate() == before


def test_deterministic_replay() -> None:
    def run() -> list[list[tuple[int, str, str]]]:
        c = Cluster(seed=11, offsets=(1000, 1100))
        c.run(3000)
        c.kill(("10.0.0.1", 6379))
        c.run(6000)
        c.restart(("10.0.0.1", 6379))
        c.run(10000)
        return c.events

    assert run() == run()
