"""The import graph runs one way (DESIGN.md, "How data flows"): a module may import only from
its own package and from packages in lower layers. Parsed statically, so an import hidden in a
function counts too."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wsvad"

LAYERS = [
    {"errors", "runtime", "version", "geometry"},
    {"fileio", "contract", "video"},
    {"backbones", "data", "evaluation"},
    {"features", "methods", "datasets"},
    {"training"},
    {"export"},
    {"detect"},
    {"report", "compare", "serve"},
    {"demo"},
    {"api"},
    {"cli"},
    {"__main__", "__init__"},
]
LEVEL = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _targets(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == \
                "wsvad":
            parts = node.module.split(".")
            if len(parts) > 1:
                out.add(parts[1])
            else:                                   # from wsvad import methods
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "wsvad":
                    out.add(parts[1] if len(parts) > 1 else "__init__")
    return out


def test_every_package_has_a_layer():
    packages = {_package(p) for p in SRC.rglob("*.py")}
    assert packages <= set(LEVEL), sorted(packages - set(LEVEL))


def test_imports_point_down():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        pkg = _package(path)
        for target in _targets(ast.parse(path.read_text())):
            if target != pkg and LEVEL.get(target, -1) >= LEVEL[pkg]:
                wrong.append(f"{path.relative_to(SRC)} ({pkg}, layer {LEVEL[pkg]}) imports "
                             f"{target} (layer {LEVEL.get(target)})")
    assert not wrong, "\n".join(wrong)
