"""The architecture, held by tests (ARCHITECTURE.md, "Layers and rules"): the package's imports form
no cycle and never point up the layers, mailer/ keeps a small top level, and the tree in errors.py's
docstring names every exception the package defines, under its base, with its module.

The import graph is read from the source (ast), not from what happens to be imported at run time:
module-level and function-level imports alike, except those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import mailer
import mailer.errors

PACKAGE_DIR = Path(mailer.__file__).parent

# Lowest first: a module may import from its own layer or a lower one (ARCHITECTURE.md, "Layers and
# rules"). cli sits above web: `mailer serve` starts the web app; the web app never imports the CLI.
LAYERS = (
    "ground floor",
    "store",
    "content",
    "render",
    "transports",
    "audience",
    "send",
    "track",
    "archive",
    "autopilot",
    "doctor",
    "web",
    "cli",
)
# The layer of each subpackage of mailer/; mailer's own top-level modules are the ground floor.
PACKAGE_LAYERS = {
    "store": "store",
    "migrations": "store",  # the schema's history: Alembic's environment reads store.models
    "content": "content",
    "render": "render",
    "transports": "transports",
    "audience": "audience",
    "send": "send",
    "track": "track",
    "archive": "archive",
    "autopilot": "autopilot",
    "doctor": "doctor",
    "web": "web",
    "cli": "cli",
}
# `python -m mailer` runs the CLI.
MODULE_LAYERS = {"mailer.__main__": "cli"}
MAX_TOP_LEVEL_MODULES = 6  # besides __init__.py and __main__.py

# Modules the exception census does not import: importing them runs something.
NOT_IMPORTED = {
    "mailer.__main__": "runs the CLI",
    "mailer.migrations": "Alembic loads env.py (it runs a migration) and versions/ by path",
}


# --- the import graph --------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(PACKAGE_DIR.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module under mailer/ by dotted name (a package by its __init__.py)."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST):
    """Import statements anywhere in the tree (functions included), skipping `if TYPE_CHECKING:`."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    if isinstance(node, ast.If) and is_type_checking(node.test):
        children = node.orelse  # only the else branch runs
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from import_nodes(child)


def known_module(name: str, modules: dict[str, Path]) -> str | None:
    """`name`, or its longest prefix that is a module of the package (`name` is an attribute)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def absolute_base(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imported_modules(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]
) -> set[str]:
    """The package's modules an import statement names (empty for imports from outside mailer)."""
    if isinstance(node, ast.Import):
        return {m for alias in node.names if (m := known_module(alias.name, modules))}
    base = absolute_base(node, importer, is_package)
    # `from mailer.send import campaign` names the module mailer.send.campaign; `from mailer.cli
    # import cli` names the package mailer.cli (the attribute cli is no module)
    named = [f"{base}.{alias.name}" for alias in node.names]
    return {name if name in modules else known_module(base, modules) for name in named} - {None}


def package_imports() -> list[Import]:
    modules = package_modules()
    found: set[Import] = set()
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in import_nodes(tree):
            for target in imported_modules(node, importer, is_package, modules) - {importer}:
                found.add(Import(importer, target, path, node.lineno))
    return sorted(found, key=lambda i: (i.importer, i.imported, i.line))


def import_graph(imports: list[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in package_modules()}
    for imp in imports:
        graph[imp.importer].add(imp.imported)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as [a, b, ..., a]."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]  # back from the last module to the start
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def cycles_through_each(graph: dict[str, set[str]], component: list[str]) -> list[list[str]]:
    """A shortest cycle through each module of the component, each once (from its least module)."""
    cycles = []
    for module in component:
        cycle = shortest_cycle(graph, [module, *component])
        first = cycle.index(min(cycle))
        cycle = [*cycle[first:-1], *cycle[:first], cycle[first]]
        if cycle not in cycles:
            cycles.append(cycle)
    return cycles


def layer_of(module: str) -> str | None:
    if module in MODULE_LAYERS:
        return MODULE_LAYERS[module]
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and (PACKAGE_DIR / f"{parts[1]}.py").exists()):
        return "ground floor"
    return PACKAGE_LAYERS.get(parts[1])


def test_every_module_has_a_layer():
    homeless = [name for name in package_modules() if layer_of(name) is None]
    assert not homeless, (
        "modules in no layer (give their package one in ARCHITECTURE.md, "
        f"'Layers and rules', and in PACKAGE_LAYERS here): {', '.join(homeless)}"
    )


def test_no_import_cycle():
    graph = import_graph(package_imports())
    cycles = [
        " → ".join(cycle)
        for component in strongly_connected(graph)
        for cycle in cycles_through_each(graph, component)
    ]
    heading = "import cycles (a shortest one through each module on a cycle):"
    assert not cycles, "\n  ".join([heading, *cycles])


def test_imports_point_down_the_layers():
    upward = []
    for imp in package_imports():
        importer_layer, imported_layer = layer_of(imp.importer), layer_of(imp.imported)
        if None in (importer_layer, imported_layer):
            continue  # test_every_module_has_a_layer names it
        if LAYERS.index(imported_layer) > LAYERS.index(importer_layer):
            upward.append(
                f"{imp.where()}: {imp.importer} ({importer_layer}) imports "
                f"{imp.imported} ({imported_layer})"
            )
    heading = "imports that go up the layers (ARCHITECTURE.md, 'Layers and rules'):"
    assert not upward, "\n  ".join([heading, *upward])


def test_top_level_stays_small():
    entry_points = ("__init__.py", "__main__.py")
    top = sorted(p.name for p in PACKAGE_DIR.glob("*.py") if p.name not in entry_points)
    assert len(top) <= MAX_TOP_LEVEL_MODULES, (
        f"mailer/ has {len(top)} top-level modules ({', '.join(top)}), at most "
        f"{MAX_TOP_LEVEL_MODULES}: a new module belongs in the stage package it serves"
    )


# --- the exception tree ------------------------------------------------------------------------

# A tree line: box-drawing indent, the class name, its module in brackets where it is not its
# parent line's (a root line's: errors.py), then what the error means.
TREE_LINE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Za-z_][\w.]*)(?:\s+\[(?P<module>mailer[\w.]*)\])?"
)
TREE_INDENT = 4  # characters per level: "├── "


@dataclass(frozen=True)
class TreeEntry:
    name: str
    parent: str | None
    module: str | None  # None: not one of ours (a root such as ValueError), or errors.py at a root


def exception_tree(doc: str) -> dict[str, TreeEntry]:
    """The tree drawn in a docstring: its indented lines, one class each, children under parents."""
    entries: dict[str, TreeEntry] = {}
    chain: list[TreeEntry] = []
    for line in doc.splitlines():
        if not line.startswith(" " * TREE_INDENT) or not line.strip():
            continue
        match = TREE_LINE.match(line[TREE_INDENT:])
        if match is None:
            continue
        depth = len(match["indent"]) // TREE_INDENT
        del chain[depth:]
        parent = chain[-1] if chain else None
        module = match["module"] or (parent.module if parent else None)
        entry = TreeEntry(match["name"].rpartition(".")[2], parent.name if parent else None, module)
        entries[entry.name] = entry
        chain.append(entry)
    return entries


def package_exceptions() -> list[type[BaseException]]:
    """Every exception class defined at the top of a module of the package."""
    found = []
    for info in pkgutil.walk_packages(mailer.__path__, "mailer."):
        if any(info.name == skip or info.name.startswith(f"{skip}.") for skip in NOT_IMPORTED):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException):
                if value.__module__ == info.name:  # defined here, not imported
                    found.append(value)
    return found


def test_errors_tree_names_every_exception():
    tree = exception_tree(mailer.errors.__doc__ or "")
    defined = package_exceptions()
    wrong = []
    for cls in defined:
        entry = tree.get(cls.__name__)
        if entry is None:
            wrong.append(f"{cls.__module__}.{cls.__name__} is not in the tree")
            continue
        module = entry.module or "mailer.errors"
        if module != cls.__module__:
            wrong.append(f"{cls.__name__} is defined in {cls.__module__}; the tree says {module}")
        base = cls.__bases__[0]
        # a root line is a class whose base is not ours (MailerError: Exception)
        foreign_root = entry.parent is None and not base.__module__.startswith("mailer")
        if entry.parent != base.__name__ and not foreign_root:
            wrong.append(
                f"{cls.__name__} derives from {base.__name__}; the tree puts it under "
                f"{entry.parent}"
            )
    bases = {base for cls in defined for base in cls.__bases__}
    foreign_bases = {base for base in bases if not base.__module__.startswith("mailer")}
    named = {cls.__name__ for cls in defined} | {base.__name__ for base in foreign_bases}
    stale = [name for name in tree if name not in named]
    wrong += [f"the tree names {name}, which no module of the package defines" for name in stale]
    heading = "errors.py's docstring tree (ARCHITECTURE.md, 'Layers and rules'):"
    assert not wrong, "\n  ".join([heading, *wrong])


def test_exception_tree_reader():
    doc = """Title.

    MailerError
    ├── SignatureError          [mailer.track.sns] an envelope must not be trusted
    │   └── CertificateFetchError  the certificate could not be fetched
    └── SendError               a send cannot start
    ValueError
    └── TokenError              [mailer.tokens] tampered or expired
    """
    tree = exception_tree(doc)
    assert tree["CertificateFetchError"] == TreeEntry(
        "CertificateFetchError", "SignatureError", "mailer.track.sns"
    )
    assert tree["SendError"] == TreeEntry("SendError", "MailerError", None)
    assert tree["TokenError"] == TreeEntry("TokenError", "ValueError", "mailer.tokens")
    assert tree["ValueError"].parent is None


def test_import_reader():
    source = """
import mailer.config
from typing import TYPE_CHECKING
from mailer.send import campaign, SendOptions
from mailer import errors as e

if TYPE_CHECKING:
    from mailer.web import create_app
else:
    from mailer.render import qr

def later():
    from mailer.cli import cli
"""
    modules = dict.fromkeys(
        [
            "mailer",
            "mailer.config",
            "mailer.errors",
            "mailer.send",
            "mailer.send.campaign",
            "mailer.web",
            "mailer.render",
            "mailer.render.qr",
            "mailer.cli",
        ],
        Path(),
    )
    found = set()
    for node in import_nodes(ast.parse(source)):
        found |= imported_modules(node, "mailer.track.report", False, modules)
    expected = {
        "mailer.config",
        "mailer.send.campaign",
        "mailer.send",
        "mailer.errors",
        "mailer.render.qr",
        "mailer.cli",
    }
    assert found == expected


def test_cycle_finder():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert shortest_cycle(graph, components[0]) == ["a", "b", "c", "a"]
    star = {"hub": {"x", "y"}, "x": {"hub"}, "y": {"hub"}}
    cycles = cycles_through_each(star, ["hub", "x", "y"])
    assert cycles == [["hub", "x", "hub"], ["hub", "y", "hub"]]
