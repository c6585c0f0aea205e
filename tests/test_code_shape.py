"""The code's shape, checked: no function in analyzer/ longer than 120 lines, and no import cycle between the
project's own modules (imports inside functions count: a lazy import hides a cycle, it does not remove it)."""

import ast
from pathlib import Path

ANALYZER = Path(__file__).resolve().parents[1] / "analyzer"
MAX_FUNCTION_LINES = 120


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ANALYZER.rglob("*.py"):
        parts = path.relative_to(ANALYZER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in mods else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in mods and m != name and not name.startswith(m + ".")}


def test_no_function_is_longer_than_120_lines():
    long = []
    for path in ANALYZER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ANALYZER.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 120 lines: " + "; ".join(long)


def test_no_import_cycles_between_project_modules():
    mods = _modules()
    graph = {name: _imports(name, path, mods) for name, path in mods.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(cycles)
