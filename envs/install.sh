#!/usr/bin/env bash
# Install the locked environment into a virtual environment: exactly the packages of
# envs/lock-<accelerator>.txt (every package, transitive ones included, hashes checked), then the
# package itself (editable).
#   python3.11 -m venv .venv && . .venv/bin/activate && bash envs/install.sh     into the active venv
#   bash envs/install.sh                 without an active venv: creates .venv (Python 3.11) in the repository
#                                        (elsewhere: DYNLOSS_VENV=/path/to/venv bash envs/install.sh)
#   bash envs/install.sh --cpu           the CPU stack
#   bash envs/install.sh --cuda12        the CUDA 12 stack (Linux x86_64; JAX's CUDA wheels, no system CUDA needed)
# Without --cpu/--cuda12: the CUDA 12 stack where an NVIDIA GPU is visible (nvidia-smi -L), else the CPU one.
# Checked first, each refused in one line: Python 3.11 (the locks are resolved for it), and on Linux
# glibc >= 2.28 (netCDF4's and other wheels are manylinux_2_28: CentOS 7's glibc 2.17 cannot load them).
# An active conda env (not base) is accepted as well as a venv. The locks are generated from
# envs/pins.txt by envs/lock.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
say() { echo "envs/install.sh: $*" >&2; }
case "${1:-}" in
  --cpu) accelerator=cpu ;;
  --cuda12) accelerator=cuda12 ;;
  "") if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then accelerator=cuda12; else accelerator=cpu; fi ;;
  *) say "unknown option '$1' (allowed: --cpu, --cuda12)"; exit 2 ;;
esac

# version, whether it is a venv (or a conda env other than base), and glibc, of a Python
probe() {
  "$1" -c 'import os, platform, sys
env = sys.prefix != sys.base_prefix or (os.environ.get("CONDA_PREFIX") == sys.prefix
                                        and os.environ.get("CONDA_DEFAULT_ENV", "base") != "base")
print("%d.%d" % sys.version_info[:2], int(env), platform.libc_ver()[1] or "none", sys.prefix)'
}

python=python
if ! command -v python >/dev/null 2>&1 || [[ "$(probe python | cut -d' ' -f2)" != 1 ]]; then
  # no active environment: make .venv with a Python 3.11
  base=$(command -v python3.11 || command -v python3 || true)
  [[ -n "$base" ]] || { say "no Python found (python3.11 or python3 on PATH); install Python 3.11"; exit 2; }
  read -r version _ _ _ <<<"$(probe "$base")"
  if [[ "$version" != 3.11 ]]; then
    say "no active venv, and $base is Python $version, not 3.11 (the locks are for 3.11): install Python 3.11, then python3.11 -m venv .venv && . .venv/bin/activate && bash envs/install.sh"
    exit 2
  fi
  venv="${DYNLOSS_VENV:-$root/.venv}"
  say "no active venv: creating $venv with $base"
  "$base" -m venv "$venv"
  python="$venv/bin/python"
  created=1
fi

read -r version _ glibc prefix <<<"$(probe "$python")"
if [[ "$version" != 3.11 ]]; then
  say "Python $version ($prefix) is not 3.11, which envs/lock-$accelerator.txt is for: make a venv with Python 3.11: python3.11 -m venv .venv && . .venv/bin/activate"
  exit 2
fi
if [[ "$(uname -s)" == Linux ]]; then
  if [[ "$glibc" == none ]] || ! printf '2.28\n%s\n' "$glibc" | sort -C -V; then
    say "glibc $glibc is older than 2.28, which the locked wheels need (netCDF4's is manylinux_2_28; CentOS 7 has 2.17): use a system (or a container) with glibc >= 2.28; the conda envs install the same wheels"
    exit 2
  fi
fi

lock="$here/lock-$accelerator.txt"
say "installing envs/lock-$accelerator.txt into $prefix (Python $version, glibc $glibc)"
# --no-deps: the lock is complete, and neural-tangents / tf2jax declare the full 'tensorflow' wheel,
# whose module the lock's 'tensorflow-cpu' provides
"$python" -m pip install --no-deps --require-hashes -r "$lock"
"$python" -m pip install --no-deps -e "$here/.."
count=$(grep -cE '^[A-Za-z0-9][A-Za-z0-9_.-]*==' "$lock")
pins=$(grep -oE '^(jax|jaxlib|jax-cuda12-plugin|nvidia-cudnn-cu12|nvidia-cublas-cu12|snakemake|netcdf4)==[^ ]+' "$lock" | paste -sd' ' -)
say "installed the $count packages of envs/lock-$accelerator.txt ($pins) and dynloss (editable) into $prefix"
if [[ -n "${created:-}" ]]; then
  say "activate it with: . $venv/bin/activate"
fi
