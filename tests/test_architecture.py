"""The package's structure: imports go down the pipeline's layers only,
there is no import circle, numeric modules draw and report nothing, and the
binding converts types only (its numerics live in the kernel's headers)."""

import ast
import os
import pathlib
import re

import networkx as nx
import pytest

import hjqp

PACKAGE = pathlib.Path(hjqp.__file__).parent
BINDINGS = pathlib.Path(__file__).resolve().parents[1] / "cpp" / "bindings"

# The pipeline, bottom up: problem -> fields on a grid -> kernel march ->
# landscape -> stochastic simulation (SGD one of its engines) -> verify and
# the catalogue of models -> report -> the command line, the package itself
# and its public re-exports.
LAYERS = [
    ["hjqp._core", "hjqp._version", "hjqp._memory", "hjqp._validate", "hjqp._interrupt", "hjqp._warn",
     "hjqp.grid"],
    ["hjqp.problem"],
    ["hjqp.solve"],
    ["hjqp.landscape"],
    ["hjqp.stochastic"],
    ["hjqp.sgd"],
    ["hjqp.verify", "hjqp.models"],
    ["hjqp.report"],
    ["hjqp.cli", "hjqp.plot", "hjqp.io", "hjqp.eikonal", "hjqp"],
]
NUMERIC = 6  # layers up to this one compute; they never draw or report
PLOTTING = ("matplotlib", "skimage")


def modules():
    """Module name -> file, for every module of the installed package."""
    out = {"hjqp._core": None}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = modules()


def layer(module: str) -> int:
    best, found = -1, None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), index
    assert found is not None, f"{module} belongs to no layer: add it to LAYERS"
    return found


def imports(module: str):
    """(imported name, line) for every import in the module, at any depth
    (imports inside functions count: they run too)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                # `from pkg import sub` imports the submodule pkg.sub
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno


def graph():
    g = nx.DiGraph()
    for module in MODULES:
        if MODULES[module] is None:
            continue
        g.add_node(module)
        for name, line in imports(module):
            if name == "hjqp" or name.startswith("hjqp."):
                g.add_edge(module, name, line=line)
    return g


GRAPH = graph()


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        layer(module)


def test_there_is_no_import_circle():
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, f"import circles: {cycles}"


def test_imports_go_down_the_layers_only():
    upward = [(a, b, GRAPH.edges[a, b]["line"]) for a, b in GRAPH.edges if layer(b) > layer(a)]
    assert not upward, "imports from a lower layer to a higher one: " + ", ".join(
        f"{a}:{line} imports {b}" for a, b, line in upward)


def test_numeric_modules_neither_draw_nor_report():
    offending = []
    for module, path in MODULES.items():
        if path is None or layer(module) > NUMERIC:
            continue
        for name, line in imports(module):
            if name.split(".")[0] in PLOTTING or layer_of_import(name) > NUMERIC:
                offending.append(f"{module}:{line} imports {name}")
    assert not offending, offending


def layer_of_import(name: str) -> int:
    return layer(name) if name == "hjqp" or name.startswith("hjqp.") else -1


@pytest.mark.skipif(not BINDINGS.is_dir(), reason="the binding's sources are not in this checkout")
def test_the_binding_converts_types_and_leaves_numerics_to_the_kernel():
    # No arithmetic on field values: no interpolation, inversion, SPD test,
    # elementary function or accumulation in the binding's files.
    numerics = re.compile(r"std::(sqrt|exp|log|pow|fabs|fmin|fmax)\b|spd_margin|is_spd|inverse<|\+= *[a-z_]+ *\*|"
                          r"\bdet\b|cholesky|lerp<")
    found = []
    for path in sorted(BINDINGS.glob("*.[ch]pp")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            if numerics.search(code):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, found
    assert os.path.exists(BINDINGS / "module.cpp")


def test_the_type_stubs_describe_the_compiled_module():
    from hjqp import _core

    stub = ast.parse((PACKAGE / "_core.pyi").read_text())
    declared = {n.name for n in stub.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    declared |= {n.target.id for n in stub.body if isinstance(n, ast.AnnAssign)}
    assert declared == {name for name in dir(_core) if not name.startswith("_")}
    for enum_name in ("UpdateRule", "FlowStop", "PathStop", "DomainKind"):
        members = next(n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == enum_name).body
        stubbed = {m.targets[0].id: m.value.value for m in members if isinstance(m, ast.Assign)}
        assert stubbed == {m.name: m.value for m in getattr(_core, enum_name)}
