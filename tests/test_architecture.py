"""The house plan, checked: the imports follow docs/architecture.md's dependency rules, form
no cycle, only the composition root constructs services, and the documented module list is
the code's. The rules and the list are read from the doc, so the doc and the code drift
together or this fails."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("studio", "pipelines", "storage", "credits")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "versions" not in path.parts:  # Alembic revision scripts are data
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    return skipped


def imports_of(name: str) -> set[str]:
    """First-party modules `name` imports anywhere (functions included), but not under
    `if TYPE_CHECKING:`. `from a import b` counts as `a.b` when that is a module."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def _table(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after `heading` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading)
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header


def _names(cell: str) -> list[str]:
    return re.findall(r"`([\w.]+)`", cell)


RULES = {
    row[0]: (_names(row[1]), [w.strip() for w in row[2].split(",") if w.strip()])
    for row in _table("### Dependency rules")
}


def layer_of(module: str) -> str:
    best, length = "", -1
    for layer, (prefixes, _allowed) in RULES.items():
        for prefix in prefixes:
            exact_only = layer == "entry"
            hit = module == prefix or (not exact_only and module.startswith(prefix + "."))
            if hit and len(prefix) > length:
                best, length = layer, len(prefix)
    assert best, f"{module} is in no layer of docs/architecture.md's dependency rules"
    return best


def test_every_import_follows_the_documented_rules() -> None:
    wrong = []
    for module in sorted(MODULES):
        layer = layer_of(module)
        allowed = RULES[layer][1]
        for target in sorted(imports_of(module)):
            other = layer_of(target)
            if other != layer and "everything" not in allowed and other not in allowed:
                wrong.append(f"{module} ({layer}) imports {target} ({other})")
    assert wrong == []


def test_the_rules_forbid_what_the_house_plan_forbids() -> None:
    """The table itself keeps the invariants: nothing below studio imports studio, the
    libraries do not import each other, and the core imports no outer layer."""
    for library in ("pipelines", "storage", "credits"):
        assert RULES[library][1] == []
    for outer in ("web", "ui", "api", "client", "surface", "farm", "film", "services", "entry"):
        assert outer not in RULES["core"][1]
    for layer in ("core", "film", "farm", "services", "surface", "api", "client", "display"):
        assert "web" not in RULES[layer][1] and "ui" not in RULES[layer][1]


def import_graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    """Guard for the test above: a cycle added by hand (the core importing the API) is found."""
    graph = import_graph()
    graph["studio.core.models"] = graph["studio.core.models"] | {"studio.api.studio"}
    cycle = find_cycle(graph)
    assert cycle is not None and "studio.core.models" in cycle and cycle[0] == cycle[-1]


# Constructors of services, and the modules allowed to call them: the composition root, the
# module that defines the constructor, and Alembic's environment (it migrates on its own).
CONSTRUCTORS = {
    "make_engine": {"studio.core.db", "studio.core.migrations.env"},
    "LocalStorage": set(),
    "S3Storage": set(),
    "Catalogue.load": {"studio.cli"},  # `pipelines list FILE` lists a file, builds nothing
    "JobRunner": set(),
    "InlineQueue": set(),
    "RedisQueue": set(),
    "EventBus": set(),
    "RedisRelay": set(),
    "IdempotencyStore": set(),
}


def test_only_the_composition_root_constructs_services() -> None:
    wrong = []
    for module, path in sorted(MODULES.items()):
        if module == "studio.services" or not module.startswith(("studio", "app")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in CONSTRUCTORS and module not in CONSTRUCTORS[called]:
                    wrong.append(f"{module}:{node.lineno} calls {called}")
    assert wrong == []


def test_the_documented_module_list_is_the_code() -> None:
    documented = {names[0] for row in _table("### Modules") if (names := _names(row[0]))}
    actual = {m for m in MODULES if m == "app" or m.split(".")[0] == "studio"}
    assert sorted(actual - documented) == [], "modules missing from docs/architecture.md"
    assert sorted(documented - actual) == [], "docs/architecture.md lists modules that are gone"


def test_no_module_is_api_sized() -> None:
    """About 500 lines at most (550 allowed), outside the rule-based script breakdown."""
    long = {
        m: n
        for m, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 550
        and m != "studio.film.breakdown"
    }
    assert long == {}


def test_the_web_layer_and_the_ui_reach_the_database_only_through_studio() -> None:
    """No SQL of their own, no engine, no studio session: what they need is a Studio call."""
    wrong = []
    for module, path in sorted(MODULES.items()):
        if not module.startswith(("studio.web", "studio.ui")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                roots = {n.split(".")[0] for n in [*names, getattr(node, "module", "") or ""]}
                if roots & {"sqlmodel", "sqlalchemy"}:
                    wrong.append(f"{module}:{node.lineno} imports the database library")
            elif isinstance(node, ast.Attribute) and node.attr in ("engine", "_session"):
                wrong.append(f"{module}:{node.lineno} uses .{node.attr}")
    assert wrong == []
