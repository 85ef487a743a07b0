"""The layout of DESIGN.md: the dependency direction, checked from the imports (pure modules
import nothing of ours above them, and nothing imports the edges, server/ and cli), and
modules, tests among them, small enough to read as one concept."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "feed"
BENCH = PACKAGE.parent / "bench"
TESTS = PACKAGE.parent / "tests"
LONGEST_MODULE = 400  # lines (DESIGN.md, Layout)
PURE = {
    "errors": set(),
    "encodings": {"errors"},
    "base32": {"errors", "encodings"},
    "chains": {"errors", "encodings"},
    "addresses": {"errors", "encodings", "base32", "chains"},
    "taxii": {"errors"},
    "envelope": {"errors"},
    "shapes": {"errors"},
    "stix": {"errors", "taxii", "addresses", "chains", "encodings", "shapes"},
    "indicators": {"addresses", "errors", "stix"},
    "keys": {"addresses", "base32", "chains", "encodings"},
    "screener": {"addresses", "keys", "taxii"},
}
EDGES = ("feed.server", "feed.cli")


def our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("feed"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("feed"))
    return found


def test_pure_modules_import_only_what_is_below_them() -> None:
    for module, allowed in PURE.items():
        imported = {name.removeprefix("feed.") for name in our_imports(PACKAGE / f"{module}.py")}
        assert imported <= allowed, module


def is_edge(module: str) -> bool:
    return any(module == edge or module.startswith(edge + ".") for edge in EDGES)


def test_nothing_imports_the_edges() -> None:
    assert is_edge("feed.server.app")
    assert not is_edge("feed.client")
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if is_edge(name):
            continue
        assert not {i for i in our_imports(path) if is_edge(i)}, name


def test_no_module_is_longer_than_the_layout_allows() -> None:
    modules = [*PACKAGE.rglob("*.py"), *BENCH.rglob("*.py"), *TESTS.rglob("*.py")]
    assert len(modules) > 100
    for path in modules:
        lines = len(path.read_text().splitlines())
        assert lines <= LONGEST_MODULE, f"{path.relative_to(PACKAGE.parent)}: {lines} lines"
