"""The layering rules of docs/architecture.md, enforced: imports flow cli -> flows -> tasks -> (w2w_core, storage).

Two checks: what each layer loads when imported in a fresh interpreter, and,
from the source with `ast`, which project packages each module imports. The
benchmarks sit above the library: they may use every layer but the CLI, and
nothing imports them but the tests; no module outside tests/ imports tests/.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "flows", "tasks", "w2w_core", "storage", "deployments")
CHECKED = (*PACKAGES, "benchmarks")  # the folders whose imports are checked
PROJECT = {*CHECKED, "tests"}  # the project's top-level names an import can point at

# Project packages a layer may import (besides itself).
MAY_IMPORT = {
    "w2w_core": set(),
    "storage": {"w2w_core"},  # its error classes and the PCA's RowMatrix protocol: NumPy only
    "tasks": {"w2w_core", "storage"},
    "flows": {"tasks", "w2w_core", "storage"},
    "deployments": {"flows", "tasks", "w2w_core", "storage"},
    "cli": {"flows", "tasks", "w2w_core", "storage"},
    "benchmarks": {"deployments", "flows", "tasks", "w2w_core", "storage"},  # never tests/
}

# Libraries a layer must not load at all when every one of its modules is imported.
MUST_NOT_LOAD = {
    "w2w_core": ("prefect", "dask", "zarr", "s3fs"),
    "storage": ("torch", "diffusers", "peft", "prefect"),
    "cli": ("torch", "diffusers", "peft", "prefect", "dask"),  # `w2w --help` stays fast
}
# fsspec arrives in w2w_core with peft (huggingface_hub's HfFileSystem); w2w_core itself never imports it.
MUST_NOT_IMPORT_ITSELF = {"w2w_core": ("fsspec",)}

PROBE = r"""
import importlib, json, pkgutil, sys, traceback
layer, watched = sys.argv[1], sys.argv[2].split(",")
importers = {}

class Watch:
    def find_spec(self, name, path, target=None):
        if name in watched and name not in importers:
            frames = [f.filename for f in traceback.extract_stack() if "importlib" not in f.filename]
            importers[name] = frames[-2] if len(frames) > 1 else "?"
        return None

sys.meta_path.insert(0, Watch())
package = importlib.import_module(layer)
for info in pkgutil.walk_packages(package.__path__, layer + "."):
    importlib.import_module(info.name)
print(json.dumps({name: importers.get(name) for name in watched if name in sys.modules}))
"""


def _loaded_by_importing(layer: str, watched: tuple[str, ...], root: Path = REPO) -> dict[str, str]:
    """{library: file that imported it} for the watched libraries that importing all of `layer` loads."""
    proc = subprocess.run([sys.executable, "-c", PROBE, layer, ",".join(watched)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layer", sorted(MUST_NOT_LOAD))
def test_a_layer_does_not_load_what_it_must_not(layer):
    watched = MUST_NOT_LOAD[layer] + MUST_NOT_IMPORT_ITSELF.get(layer, ())
    loaded = _loaded_by_importing(layer, watched)
    forbidden = {name: by for name, by in loaded.items() if name in MUST_NOT_LOAD[layer]}
    assert not forbidden, f"importing {layer} loads {forbidden} (library: the file that imported it)"
    direct = {name: by for name, by in loaded.items()
              if name in MUST_NOT_IMPORT_ITSELF.get(layer, ()) and str(REPO / layer) in by}
    assert not direct, f"{layer} imports {direct} itself"


def _imports(path: Path) -> set[str]:
    """Top-level names of every module `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def project_imports() -> dict[str, set[str]]:
    """{module path: project packages (and tests) it imports, other than its own}."""
    found = {}
    for layer in CHECKED:
        for path in sorted((REPO / layer).rglob("*.py")):
            found[str(path.relative_to(REPO))] = (_imports(path) & PROJECT) - {layer}
    return found


def test_imports_point_down_the_layers_only():
    wrong = {module: sorted(used - MAY_IMPORT[module.split("/")[0]])
             for module, used in project_imports().items() if used - MAY_IMPORT[module.split("/")[0]]}
    assert not wrong, f"imports against the layering (module: packages it may not import): {wrong}"


def test_the_benchmarks_are_checked_and_use_the_library():
    """benchmarks/ is in the check (a script importing tests/ fails it) and imports the layers it measures."""
    imports = {module: used for module, used in project_imports().items() if module.startswith("benchmarks/")}
    assert "benchmarks/harness.py" in imports and "benchmarks/editing.py" in imports
    assert {"w2w_core", "tasks"} <= imports["benchmarks/editing.py"]
    assert "tests" not in set().union(*imports.values())


def test_the_checks_catch_a_violation(tmp_path):
    """Both checks see a forbidden import wherever it is written (here: a submodule, inside a function)."""
    layer = tmp_path / "leaky"
    layer.mkdir()
    (layer / "__init__.py").write_text("")
    (layer / "deep.py").write_text("import zarr\n\ndef f():\n    from tasks.dataset import prepare_store\n")
    loaded = _loaded_by_importing("leaky", ("zarr", "torch"), root=tmp_path)
    assert set(loaded) == {"zarr"} and loaded["zarr"].endswith("deep.py")
    assert _imports(layer / "deep.py") & set(PACKAGES) == {"tasks"}
