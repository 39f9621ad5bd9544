"""The import graph runs one way: every first-party import, read from the source (ast), checked against the floors.

    kinerja/             the application (cli, demo, trial, processes, release): imports anything, nothing imports it
    gateway/  server/    the two sides: each imports the wire and scoring, never the other side nor the application
    wire/     scoring/   the bottom: import nothing of ours

Imports inside functions and under `if TYPE_CHECKING:` count too: a deferred import is still an arrow.
Besides the floors, no circle among first-party modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_LAYERED = {"tests", "bench", "build", "dist"}  # may import everything; nothing imports them

# Each floor and the packages it may import (its own always).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "wire": frozenset(),
    "scoring": frozenset(),
    "gateway": frozenset({"wire", "scoring"}),
    "server": frozenset({"wire", "scoring"}),
    "kinerja": frozenset({"wire", "scoring", "gateway", "server"}),
}

# Circles that exist today and are someone's task to remove; an entry that no longer occurs fails the test, so
# the list only shrinks. Empty since the server restructure (issue 14): any circle now fails.
KNOWN_CIRCLES: list[frozenset[str]] = []

# Inside server/, the rooms: the JSON API and the pages both stand on the services and never on each other;
# the services import neither. (Modules directly under server/ — auth, access, errors, i18n, models, db ... —
# are the floor all three stand on.)
ROOMS: dict[str, frozenset[str]] = {
    "server.api": frozenset({"server.pages"}),
    "server.pages": frozenset({"server.api"}),
    "server.services": frozenset({"server.api", "server.pages"}),
}


def first_party_packages(root: Path) -> set[str]:
    """The top-level folders holding Python source (gateway/ is a namespace package: no __init__.py)."""
    folders = (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_LAYERED)
    return {folder.name for folder in folders if next(folder.rglob("*.py"), None) is not None}


def modules_of(root: Path, packages: set[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages (a package is its __init__.py)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every dotted name the module imports, with its line; for `from X import y` that is X.y (y may be a module
    or a name in X: import_graph keeps the deepest prefix that is a module)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                yield f"{origin}.{alias.name}", node.lineno


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """Module -> {first-party module it imports: line}. An import names the deepest existing module it reaches."""
    modules = modules_of(root, first_party_packages(root))
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for name, line in _imported_names(module, path):
            target = name
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def upward_arrows(graph: dict[str, dict[str, int]]) -> list[str]:
    wrong = []
    for module, edges in sorted(graph.items()):
        floor = module.split(".")[0]
        allowed = MAY_IMPORT.get(floor, frozenset()) | {floor}
        for target, line in sorted(edges.items()):
            if target.split(".")[0] not in allowed:
                wrong.append(f"{module} (line {line}) imports {target}")
    return wrong


def circles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative: the graph has hundreds)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph(ROOT)


def test_every_first_party_package_has_a_floor():
    assert first_party_packages(ROOT) == set(MAY_IMPORT), "a new top-level package: give it a floor in MAY_IMPORT"


def test_no_import_runs_up_or_sideways(graph):
    assert upward_arrows(graph) == []


def test_nothing_imports_the_application(graph):
    importers = sorted(
        m
        for m, edges in graph.items()
        if not m.startswith("kinerja") and any(t == "kinerja" or t.startswith("kinerja.") for t in edges)
    )
    assert importers == []


def test_no_import_circle(graph):
    found = circles(graph)
    new = [sorted(c) for c in found if c not in KNOWN_CIRCLES]
    gone = [sorted(c) for c in KNOWN_CIRCLES if c not in found]
    assert new == [], "import circle(s) among first-party modules"
    assert gone == [], "this circle is gone: delete it from KNOWN_CIRCLES"


def _room(module: str) -> str | None:
    return next((room for room in ROOMS if module == room or module.startswith(room + ".")), None)


def crossed_rooms(graph: dict[str, dict[str, int]]) -> list[str]:
    wrong = []
    for module, edges in sorted(graph.items()):
        room = _room(module)
        if room is None:
            continue
        for target, line in sorted(edges.items()):
            if _room(target) in ROOMS[room]:
                wrong.append(f"{module} (line {line}) imports {target}")
    return wrong


def test_the_server_rooms_do_not_import_each_other(graph):
    assert crossed_rooms(graph) == []


def test_the_rooms_below_server_do_not_import_server_app(graph):
    """server.app assembles the rooms; a room importing it would run the arrow back up."""
    importers = sorted(m for m, edges in graph.items() if _room(m) and "server.app" in edges)
    assert importers == []


def test_the_checker_sees_what_it_must(tmp_path):
    """The checker itself: a planted upward arrow, a deferred one, a relative one and a circle are all caught."""
    for package, files in {
        "wire": {"__init__.py": "", "contract.py": "def f():\n    from gateway import relay\n"},
        "gateway": {"__init__.py": "", "relay.py": "from .queue import Q\n", "queue.py": "from . import relay\n"},
        "server": {"__init__.py": "", "app.py": "import kinerja.cli\n"},
        "scoring": {"__init__.py": "from ._x import y\n", "_x.py": "y = 1\n"},
        "kinerja": {"__init__.py": "", "cli.py": "import server.app\n"},
    }.items():
        (tmp_path / package).mkdir()
        for name, text in files.items():
            (tmp_path / package / name).write_text(text)
    planted = import_graph(tmp_path)
    assert upward_arrows(planted) == [
        "server.app (line 1) imports kinerja.cli",
        "wire.contract (line 2) imports gateway.relay",
    ]
    assert sorted(map(sorted, circles(planted))) == [["gateway.queue", "gateway.relay"], ["kinerja.cli", "server.app"]]


def test_the_room_checker_sees_what_it_must(tmp_path):
    """A planted page importing the API, and a service importing a page, are both caught."""
    for folder, files in {
        "server": {"__init__.py": ""},
        "server/api": {"__init__.py": "", "units.py": "from server.services import units\n"},
        "server/pages": {"__init__.py": "", "units.py": "from server.api.units import x\n"},
        "server/services": {"__init__.py": "", "units.py": "def f():\n    from server.pages import units\n"},
    }.items():
        (tmp_path / folder).mkdir()
        for name, text in files.items():
            (tmp_path / folder / name).write_text(text)
    assert crossed_rooms(import_graph(tmp_path)) == [
        "server.pages.units (line 1) imports server.api.units",
        "server.services.units (line 2) imports server.pages.units",
    ]
