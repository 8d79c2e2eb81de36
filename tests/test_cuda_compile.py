"""Runs without a GPU: every CUDA source compiles with nvcc for sm_90 (each templated kernel for
float and double, as the backend instantiates them) without local-memory spills, and every launch
in the Python wrappers names a kernel that exists with as many arguments as it declares."""
import ast
import importlib.util
import os
import re
import shutil
import subprocess

import pytest

import classviz

# source.py needs only NumPy; importing it through its package would import CuPy, which CI lacks
_path = os.path.join(os.path.dirname(classviz.__file__), "kernels", "cuda", "source.py")
_spec = importlib.util.spec_from_file_location("classviz_cuda_source", _path)
source = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source)
DIR, instances, sources = source.DIR, source.instances, source.sources

NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("path", sources(), ids=os.path.basename)
def test_compiles_for_sm90_without_spills(path, tmp_path):
    code = open(path).read()
    names = instances(code)
    assert names, f"{path} has no templated kernels"
    unit = tmp_path / "unit.cu"
    unit.write_text(f'#include "{path}"\nvoid* classviz_instances[] = {{'
                    + ", ".join(f"(void*)&{n}" for n in names) + "};\n")
    r = subprocess.run([NVCC, "-arch=sm_90", "-std=c++17", "-cubin", "-I", DIR, *source.flags(), "-Xptxas", "-v",
                        "-Werror",
                        "all-warnings", "-o", str(tmp_path / "unit.cubin"), str(unit)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    entries = re.findall(r"Compiling entry function '(\w+)'", r.stderr)
    assert len(entries) == len(names), r.stderr
    spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", r.stderr)
    # one line per kernel, plus one per device function ptxas keeps apart (double pow): all zero
    assert len(spills) >= len(names) and all(s == ("0", "0") for s in spills), r.stderr
    frames = re.findall(r"(\d+) bytes stack frame", r.stderr)
    assert all(f == "0" for f in frames), r.stderr


def _params(code):
    """{kernel name: number of parameters} for the templated kernels in `code`."""
    out = {}
    for m in re.finditer(r"template <typename T>\s*__global__ void (\w+)\(([^)]*)\)", code):
        out[m.group(1)] = len([p for p in m.group(2).split(",") if p.strip()])
    return out


def _count(node, fn_defs, local):
    """Number of values a launch's argument tuple holds, resolving `*helper(...)` and `*name`."""
    n = 0
    for e in node.elts:
        if not isinstance(e, ast.Starred):
            n += 1
        elif isinstance(e.value, ast.Call):  # *_geom(win): return tuple(f(v) for v in (a, b, ...))
            ret = next(s for s in ast.walk(fn_defs[e.value.func.id]) if isinstance(s, ast.Return))
            # or return (a, b, ...): a tuple literal
            n += len(ret.value.elts) if isinstance(ret.value, ast.Tuple) else len(ret.value.args[0].generators[0].iter.elts)
        else:  # *args, a tuple assigned in the same function
            n += _count(local[e.value.id], fn_defs, local)
    return n


def _launches(path):
    """[(cu file, kernel, number of arguments passed)] for every kernel launch in a wrapper."""
    tree = ast.parse(open(path).read())
    fn_defs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    found = []
    for f in fn_defs.values():
        local = {a.targets[0].id: a.value for a in ast.walk(f)
                 if isinstance(a, ast.Assign) and isinstance(a.targets[0], ast.Name) and isinstance(a.value, ast.Tuple)}
        for call in ast.walk(f):
            if not isinstance(call, ast.Call):
                continue
            if isinstance(call.func, ast.Name) and call.func.id == "launch":
                k, args = call.args[0], call.args[2]
            elif isinstance(call.func, ast.Call) and getattr(call.func.func, "id", None) == "kernel":
                k, args = call.func, call.args[2]
            else:
                continue
            found.append((k.args[0].value, k.args[1].value, _count(args, fn_defs, local)))
    return found


def test_every_launch_matches_its_kernel_signature():
    wrappers = [os.path.join(DIR, f) for f in sorted(os.listdir(DIR)) if f.endswith(".py")]
    launches = [la for w in wrappers for la in _launches(w)]
    assert len(launches) >= 20
    declared = {os.path.basename(p)[:-3]: _params(open(p).read()) for p in sources()}
    for cu, name, passed in launches:
        assert name in declared[cu], f"{cu}.cu has no kernel {name}"
        assert passed == declared[cu][name], f"{cu}.cu:{name} takes {declared[cu][name]} arguments, given {passed}"
    used = {(cu, name) for cu, name, _ in launches}
    unused = [(cu, k) for cu, ks in declared.items() for k in ks if (cu, k) not in used]
    assert not unused, f"kernels never launched: {unused}"
