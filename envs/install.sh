#!/usr/bin/env bash
# Install the locked environment into the active Python: exactly the packages of
# envs/lock-<accelerator>.txt (every package, transitive ones included, hashes checked), then the
# package itself (editable).
#   bash envs/install.sh            the CUDA 12 stack where an NVIDIA GPU is visible (nvidia-smi -L), else the CPU one
#   bash envs/install.sh --cpu      the CPU stack
#   bash envs/install.sh --cuda12   the CUDA 12 stack (Linux x86_64; JAX's CUDA wheels, no system CUDA needed)
# The locks are generated from envs/pins.txt by envs/lock.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
  --cpu) accelerator=cpu ;;
  --cuda12) accelerator=cuda12 ;;
  "") if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then accelerator=cuda12; else accelerator=cpu; fi ;;
  *) echo "envs/install.sh: unknown option '$1' (allowed: --cpu, --cuda12)" >&2; exit 2 ;;
esac
echo "envs/install.sh: installing envs/lock-$accelerator.txt" >&2
# --no-deps: the lock is complete, and neural-tangents / tf2jax declare the full 'tensorflow' wheel,
# whose module the lock's 'tensorflow-cpu' provides
python -m pip install --no-deps --require-hashes -r "$here/lock-$accelerator.txt"
python -m pip install --no-deps -e "$here/.."
