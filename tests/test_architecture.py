"""The house plan holds: wings import downwards only, the core never imports Gradio, the
statistics never need plotly, and no module grows into a room of its own (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mmmos_core"

# Lowest first; a module may import from its own wing or from any lower layer.
LAYERS = (
    {"axes", "errors", "paths"},
    {"tables"},
    {"labels", "encoders"},
    {"model"},
    {"peers", "ab", "arithmetic_floor"},
    {"batch", "training", "lite", "views"},
    {"studies"},
    {"settings", "bench"},
    {"cli", "__init__"},
)
MAX_LINES = 420  # "about 400": a module past this has more than one job


def _layer(wing: str) -> int:
    for k, names in enumerate(LAYERS):
        if wing in names:
            return k
    raise AssertionError(f"{wing!r} is in no layer of ARCHITECTURE.md: add it there and to LAYERS")


def _wing(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports, lazily inside functions too."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                out += [module] + [f"{module}.{a.name}" for a in node.names]
            elif node.module:
                out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards(path):
    here = _wing(path)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "mmmos_core" or len(parts) < 2:
            continue
        target = parts[1]
        if not ((PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file()) or target == here:
            continue
        if here == "__init__":  # the package's front door may re-export from any wing
            continue
        assert _layer(target) < _layer(here), f"{path.name} ({here}) imports {name} ({target}): an upward arrow"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_never_imports_gradio_and_only_views_import_plotly(path):
    roots = {name.split(".")[0] for name in _imports(path)}
    assert "gradio" not in roots
    if _wing(path) != "views":
        assert "plotly" not in roots, f"{path} imports plotly outside the optional views wing"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_a_room_of_its_own(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_layers_name_every_wing():
    wings = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    wings |= {p.stem for p in PACKAGE.glob("*.py")}
    for wing in wings:
        _layer(wing)
