"""The pins (envs/pins.txt), the locks (envs/lock-*.txt) and the conda files (envs/*.yaml) agree,
and every rule's conda env has what the code its rule runs imports."""
import argparse
import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ENVS = Path(__file__).resolve().parents[1] / "envs"
SRC = ENVS.parent / "src"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)")
#: conda file -> the lock whose versions it takes
CONDA_LOCK = {"cpu.yaml": "lock-cpu.txt", "cuda12.yaml": "lock-cuda12.txt", "reference.yaml": "lock-cpu.txt"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pin_lines() -> list[tuple[str, str, str]]:
    """(section, requirement without comment, full line) of every pin."""
    out, section = [], None
    for line in (ENVS / "pins.txt").read_text().splitlines():
        header = re.match(r"#\s*\[(\w+)\]", line)
        if header:
            section = header.group(1)
        elif line.split("#", 1)[0].strip():
            out.append((section, line.split("#", 1)[0].strip(), line))
    return out


def pins(*sections: str) -> dict[str, str]:
    out = {}
    for section, req, _ in pin_lines():
        if not sections or section in sections:
            name, version = req.split("==")
            out[norm(name)] = version
    return out


def no_deps() -> dict[str, str]:
    return {norm(req.split("==")[0]): req.split("==")[1] for _, req, line in pin_lines() if "no-deps" in line}


def lock(name: str) -> dict[str, str]:
    """Name -> version of a lock; every entry must carry its hashes."""
    text = (ENVS / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    out = {}
    for entry in entries:
        m = PIN.match(entry)
        assert m and "--hash=sha256:" in entry, f"{name}: {entry[:60]!r} is not pinned with hashes"
        out[norm(m.group(1))] = m.group(3)
    return out


def conda_pip_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    out = {}
    for req in pip:
        m = PIN.fullmatch(req)
        assert m, f"{path.name}: {req!r} is not pinned with =="
        out[norm(m.group(1))] = m.group(3)
    return out


@pytest.mark.parametrize("name", ["lock-cpu.txt", "lock-cuda12.txt"])
def test_every_pin_is_in_the_lock_at_its_version(name):
    locked = lock(name)
    for pkg, version in pins().items():
        assert locked.get(pkg) == version, f"{name}: {pkg}=={locked.get(pkg)} but envs/pins.txt says {version}"


def test_the_cuda_lock_pins_the_cuda_wheels():
    cuda, cpu = lock("lock-cuda12.txt"), lock("lock-cpu.txt")
    nvidia = {n for n in cuda if n.startswith("nvidia-") and n.endswith("-cu12")}
    assert {"nvidia-cuda-nvcc-cu12", "nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= nvidia
    assert cuda["jax-cuda12-plugin"] == cuda["jax-cuda12-pjrt"] == cuda["jaxlib"]
    assert not any(n.startswith(("nvidia-", "jax-cuda")) for n in cpu)
    assert set(cpu) <= set(cuda) and len(cuda) > 100


def test_the_cuda_libraries_are_jax_0_5_3s_release_set():
    """lock-cuda12.txt holds the CUDA libraries of JAX 0.5.3's own release lock (envs/lock.py), so none of the
    known interactions of newer sets applies: cuDNN below 9.11 (convolutions), cuBLAS below 12.9 (several GPUs)."""
    sys.path.insert(0, str(ENVS))
    import lock as lock_py

    cuda = lock("lock-cuda12.txt")
    nvidia = {n: v for n, v in cuda.items() if n.startswith("nvidia-")}
    assert nvidia == lock_py.CUDA_LIBRARIES
    version = lambda name: tuple(int(x) for x in nvidia[name].split(".")[:2])  # noqa: E731
    assert version("nvidia-cudnn-cu12") < (9, 11) and version("nvidia-cublas-cu12") < (12, 9)
    assert conda_pip_pins(ENVS / "cuda12.yaml").items() >= lock_py.CUDA_LIBRARIES.items()


@pytest.mark.parametrize("env", sorted(CONDA_LOCK))
def test_conda_envs_match_their_lock(env):
    locked, listed = lock(CONDA_LOCK[env]), conda_pip_pins(ENVS / env)
    for name, version in listed.items():
        assert locked.get(name) == version, (f"{env}: {name}=={version} but envs/{CONDA_LOCK[env]} has "
                                             f"{locked.get(name)}")
    wanted = pins("runtime", "reference") if env == "reference.yaml" else pins("runtime")
    missing = set(wanted) - set(listed) - set(no_deps())
    assert not missing, f"{env} lacks {sorted(missing)}"


def test_the_reference_env_adds_the_no_deps_pins():
    script = (ENVS / "reference.post-deploy.sh").read_text()
    installed = dict(re.findall(r"([a-z0-9-]+)==(\S+)", script.split("--no-deps", 1)[1]))
    assert installed == no_deps() and installed
    assert not set(no_deps()) & set(conda_pip_pins(ENVS / "reference.yaml"))


def test_the_stack_is_pinned_as_documented():
    p = pins()
    assert p["jax"] == "0.5.3" and p["jaxlib"] == "0.5.3"
    assert p["neural-tangents"] == "0.6.5" and p["tf2jax"] == "0.3.6"
    assert "tensorflow-cpu" in p and "tensorflow" not in lock("lock-cpu.txt")
    assert p["snakemake"].startswith("9.")


def test_cuda_env_uses_cuda12_jax():
    env = yaml.safe_load((ENVS / "cuda12.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "jax[cuda12]==0.5.3" in pip


#: pins that are tools, plugins or the dependencies of a no-deps install, not imported by our code
NOT_IMPORTED = {"jaxlib", "netcdf4", "snakemake-executor-plugin-slurm", "pytest", "tensorflow-cpu", "frozendict",
                "dm-tree", "absl-py", "tf2jax", "snakemake", "ruff", "snakefmt",
                "pytest-xdist"}  # tools run as commands (pytest-xdist: a pytest plugin, -n 2)
IMPORT_NAME = {"pyyaml": "yaml", "neural-tangents": "neural_tangents", "scikit-learn": "sklearn"}


def test_every_pinned_library_is_used():
    """A pin is there because the code imports it (pandas was pinned, never used)."""
    root = ENVS.parent
    code = "\n".join(p.read_text() for d in ("src", "tests", "benchmarks") for p in (root / d).rglob("*.py"))
    for name in set(pins()) - set(map(norm, NOT_IMPORTED)):
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        used = rf"^\s*(import|from)\s+{module}\b|importorskip\(\"{module}\"\)"
        assert re.search(used, code, re.M), f"{name} is pinned but never imported"


# -- every rule's env has what its command imports -------------------------------------------------

def module_file(name: str) -> Path:
    base = SRC / name.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def absolute(node, module: str) -> list[str]:
    """The modules an import statement of ``module`` names (``from .. import x`` -> ``dynloss.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = module if module_file(module).name == "__init__.py" else module.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    base = node.module if not node.level else ".".join(p for p in (package, node.module) if p)
    subs = [f"{base}.{a.name}" for a in node.names]
    return [base] + [s for s in subs if s.startswith("dynloss.") and module_file(s).exists()]


def imports(tree, module: str, functions: bool) -> set[str]:
    """Modules imported by ``tree``; inside function bodies only if ``functions``."""
    out, todo = set(), [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update(absolute(node, module))
        if functions or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node is tree:
            todo.extend(ast.iter_child_nodes(node))
    return out


def cli_functions() -> dict[str, list[tuple[str, ast.FunctionDef]]]:
    """Every function of dynloss.cli by name, with its module."""
    out: dict[str, list] = {}
    for path in (SRC / "dynloss" / "cli").glob("*.py"):
        module = "dynloss.cli" + ("" if path.stem == "__init__" else f".{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                out.setdefault(node.name, []).append((module, node))
    return out


def command_imports(handler) -> set[str]:
    """Third-party top-level modules that ``python -m dynloss <command>`` can import: the handler and the
    cli functions it calls (their own imports), every module-level import on the way, and everything
    any other dynloss module imports (its lazy imports too)."""
    index = cli_functions()
    seen_fn, todo_fn = set(), [(handler.__module__, handler.__name__)]
    reached = {"dynloss.__main__"}
    while todo_fn:
        module, name = todo_fn.pop()
        for mod, fn in index.get(name, []):
            if (mod, name) in seen_fn or (mod != module and not mod.startswith("dynloss.cli")):
                continue
            seen_fn.add((mod, name))
            reached |= imports(fn, mod, functions=False)
            todo_fn += [(mod, c.func.id) for c in ast.walk(fn)
                        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)]
    done, third = set(), set()
    while reached - done:
        module = (reached - done).pop()
        done.add(module)
        if not module.startswith("dynloss"):
            third.add(module.split(".")[0])
        elif module_file(module).exists():
            reached |= imports(ast.parse(module_file(module).read_text()), module,
                               functions=not module.startswith("dynloss.cli"))
    return third - set(sys.stdlib_module_names) - {"__future__"}


#: the commands of planned jobs (dynloss.jobs requests)
PLANNED_COMMANDS = ("train", "thresholds", "myrtle")


def test_every_rules_env_has_what_its_command_imports():
    from dynloss.cli import build_parser
    from test_accelerator import load_workflow

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    handlers = {name: p.get_default("func") for name, p in sub.choices.items()}
    providers = importlib.metadata.packages_distributions()
    _, _, rules, _ = load_workflow(scale="quick")
    checked = 0
    for name, rule in rules.items():
        command = re.search(r"python -m dynloss (\S+)", rule.shellcmd or "")
        if not rule.shellcmd:
            continue
        assert command and rule.conda_env, f"rule {name}: not a dynloss command in a conda env"
        env = Path(rule.conda_env).name
        listed = set(conda_pip_pins(ENVS / env)) | (set(no_deps()) if env == "reference.yaml" else set())
        # `dynloss job` (train_job, dynamics) runs whichever command its planned job has
        commands = ("job", *PLANNED_COMMANDS) if command.group(1) == "job" else (command.group(1),)
        for module in set().union(*(command_imports(handlers[c]) for c in commands)):
            dists = {norm(d) for d in providers.get(module, [module])}
            assert dists & listed, f"rule {name} ({command.group(0)}) imports {module}, not in {env}"
        checked += 1
    assert checked >= 12


def test_version_license_and_citation_agree():
    import dynloss

    root = ENVS.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert project["version"] == dynloss.__version__ == str(cff["version"])
    assert re.search(rf"^## {re.escape(dynloss.__version__)} ", (root / "CHANGELOG.md").read_text(), re.M)
    assert project["license"] == cff["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (root / "LICENSE").read_text().startswith("MIT License")
    cited = {ref["type"]: ref for ref in cff["references"]}
    assert cited["thesis"]["authors"][0]["family-names"] == "Lavín Pallero" and cited["thesis"]["year"] == 2021
    assert cited["conference-paper"]["title"].startswith("Tilting the playing field")
    assert cited["conference-paper"]["volume"] == 139


def fake_bin(tmp_path, gpu=True, python="3.11 1 2.36 /venv", **others) -> dict:
    """Stand-ins for nvidia-smi and python (which answer install.sh's probe with ``python``: version, in a
    venv, glibc, prefix; and record the pip commands), and ``others`` (name -> probe answer); the env."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    listing = "echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'" if gpu else "echo 'No devices were found'; exit 6"
    (bin_ / "nvidia-smi").write_text(f"#!/bin/sh\n{listing}\n")
    for name, answer in {"python": python, **others}.items():
        (bin_ / name).write_text(f"#!/bin/sh\nif [ \"$1\" = -c ]; then echo '{answer}'; exit 0; fi\n"
                                 f"echo \"$0 $*\" >> {tmp_path}/calls\n")
    for exe in bin_.iterdir():
        exe.chmod(0o755)
    for tool in TOOLS:  # only these on the PATH: no real Python is found
        (bin_ / tool).symlink_to(shutil.which(tool))
    return dict(os.environ, PATH=str(bin_), DYNLOSS_VENV=str(tmp_path / "venv"))


#: the commands install.sh runs besides Python and nvidia-smi
TOOLS = ("dirname", "cut", "grep", "sort", "uname", "paste", "mkdir", "cp")


def install(env, *options):
    return subprocess.run([shutil.which("bash"), str(ENVS / "install.sh"), *options], env=env, capture_output=True,
                          text=True)


@pytest.mark.parametrize("gpu, option, lock_file", [(True, "", "lock-cuda12.txt"), (False, "", "lock-cpu.txt"),
                                                    (True, "--cpu", "lock-cpu.txt"),
                                                    (False, "--cuda12", "lock-cuda12.txt")])
def test_install_picks_the_lock_of_the_machine(tmp_path, gpu, option, lock_file):
    """envs/install.sh with stand-ins for nvidia-smi and python (which record the pip commands)."""
    proc = install(fake_bin(tmp_path, gpu), *([option] if option else []))
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    python = tmp_path / "bin" / "python"
    assert calls[0] == f"{python} -m pip install --no-deps --require-hashes -r {ENVS / lock_file}"
    assert calls[1] == f"{python} -m pip install --no-deps -e {ENVS}/.."
    # it says what it installed
    n = len(lock(lock_file))
    assert f"installing envs/{lock_file} into /venv (Python 3.11, glibc 2.36)" in proc.stderr
    assert re.search(rf"installed the {n} packages of envs/{lock_file} \(jax==0\.5\.3 .*snakemake==\S+.*\) and "
                     r"dynloss \(editable\) into /venv", proc.stderr), proc.stderr


@pytest.mark.parametrize("answer, message", [
    ("3.12 1 2.36 /venv", "envs/install.sh: Python 3.12 (/venv) is not 3.11, which envs/lock-cpu.txt is for"),
    ("3.11 1 2.17 /venv", "envs/install.sh: glibc 2.17 is older than 2.28, which the locked wheels need"),
])
def test_install_refuses_a_wrong_python_or_glibc_in_one_line(tmp_path, answer, message):
    proc = install(fake_bin(tmp_path, gpu=False, python=answer))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert not (tmp_path / "calls").exists()  # nothing installed


def test_install_without_a_venv_creates_one_with_python_3_11(tmp_path):
    env = fake_bin(tmp_path, gpu=False, python="3.11 0 2.36 /usr", **{"python3.11": "3.11 0 2.36 /usr"})
    venv = tmp_path / "venv"
    # the stand-in python3.11 makes the venv: its python, a stand-in in a venv
    maker = tmp_path / "bin" / "python3.11"
    maker.write_text(maker.read_text().replace(
        "echo \"$0", f"mkdir -p {venv}/bin; cp {tmp_path}/bin/venv-python {venv}/bin/python; echo \"$0"))
    (tmp_path / "bin" / "venv-python").write_text(f"#!/bin/sh\nif [ \"$1\" = -c ]; then echo '3.11 1 2.36 {venv}'; "
                                                  f"exit 0; fi\necho \"$0 $*\" >> {tmp_path}/calls\n")
    (tmp_path / "bin" / "venv-python").chmod(0o755)
    proc = install(env, "--cpu")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == f"{maker} -m venv {venv}"
    assert calls[1].startswith(f"{venv}/bin/python -m pip install --no-deps --require-hashes")
    assert f"no active venv: creating {venv} with {maker}" in proc.stderr
    assert f"activate it with: . {venv}/bin/activate" in proc.stderr


def test_install_without_a_venv_refuses_a_python_other_than_3_11_in_one_line(tmp_path):
    env = fake_bin(tmp_path, gpu=False, python="3.12 0 2.36 /usr", python3="3.12 0 2.36 /usr")
    proc = install(env, "--cpu")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "no active venv, and" in proc.stderr and "is Python 3.12, not 3.11" in proc.stderr
    assert not (tmp_path / "calls").exists()


def test_install_refuses_an_unknown_option():
    proc = subprocess.run(["bash", str(ENVS / "install.sh"), "--gpu"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option '--gpu' (allowed: --cpu, --cuda12)" in proc.stderr
