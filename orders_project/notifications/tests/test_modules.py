"""The app's modules import one another one way: no cycle, not even through an import in a function."""

import ast
from pathlib import Path

import notifications

APP = Path(notifications.__file__).parent


def imports_of_the_app(path: Path) -> set[str]:
    """Return the app's modules that `path` imports anywhere (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("notifications.")}
    return found & {p.stem for p in APP.glob("*.py")} - {"__init__"}


def test_no_module_of_the_app_imports_one_that_imports_it_back():
    graph = {path.stem: imports_of_the_app(path) for path in APP.glob("*.py")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for name in graph.get(start, ()):
            if name == goal or (name not in seen and reaches(name, goal, seen | {name})):
                return True
        return False

    cycles = sorted(module for module in graph if reaches(module, module, {module}))
    assert cycles == []
    assert "tasks" in graph["services"]  # the services queue sends; the tasks never call back
