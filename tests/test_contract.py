"""Both backends against kernels/contract.py, read from their sources (no CuPy needed): every op
module exists on both sides with exactly the contract's functions and parameters, and the
imports run one way (kernels/cuda never imports kernels/cpu; nothing in kernels imports upward)."""
import ast
import os

import pytest

import classviz
from classviz.kernels import contract

KERNELS = os.path.join(os.path.dirname(classviz.__file__), "kernels")
SHARED = os.path.join(KERNELS, "shared.py")


def _functions(path):
    """{name: parameter text} of a module's top-level functions, and of the names it imports from
    kernels/shared.py (under the name it binds them to)."""
    tree = ast.parse(open(path).read())
    out = {f.name: ast.unparse(f.args) for f in tree.body if isinstance(f, ast.FunctionDef)}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "shared" and node.level == 2:
            shared = _functions(SHARED)
            for alias in node.names:
                if alias.name in shared:  # functions; constants (PRECISIONS) are not the contract's
                    out[alias.asname or alias.name] = shared[alias.name]
    return out


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_every_op_module_keeps_the_contract(backend):
    for op, functions in contract.OPS.items():
        path = os.path.join(KERNELS, backend, op + ".py")
        assert os.path.isfile(path), f"kernels/{backend}/{op}.py is missing"
        have = _functions(path)
        for name, params in functions.items():
            assert name in have, f"kernels/{backend}/{op}.py has no {name}({params})"
            assert have[name] == params, f"kernels/{backend}/{op}.py: {name}({have[name]}), contract: ({params})"


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_every_backend_module_keeps_the_contract(backend):
    path = os.path.join(KERNELS, backend, "__init__.py")
    tree = ast.parse(open(path).read())
    have = _functions(path)
    for name, params in contract.BACKEND.items():
        assert have.get(name) == params, f"kernels/{backend}: {name}({have.get(name)}), contract: ({params})"
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    # or served by a module __getattr__ (the CUDA backend's xp is its device's, looked up on use)
    served = {c.value for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
              for c in ast.walk(f) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    assert set(contract.ATTRIBUTES) <= assigned | served, set(contract.ATTRIBUTES) - assigned - served
    imported = {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1
                for a in node.names}
    assert set(contract.OPS) <= imported, set(contract.OPS) - imported


def test_imports_run_one_way():
    """kernels/cuda and kernels/cpu import only their own modules, kernels/shared.py, kernels/
    geometry.py and classviz.errors; nothing below kernels/ imports graph, ascent, net or cli."""
    allowed = {"shared", "geometry", "errors"}
    for backend, other in (("cpu", "cuda"), ("cuda", "cpu")):
        for f in sorted(os.listdir(os.path.join(KERNELS, backend))):
            if not f.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(KERNELS, backend, f)).read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level >= 2:
                    top = (node.module or "").split(".")[0]
                    where = f"kernels/{backend}/{f} imports {'.' * node.level}{node.module}"
                    assert top in allowed and top != other, where
