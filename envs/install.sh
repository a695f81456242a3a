#!/usr/bin/env bash
# Install the pinned environment from envs/pins.txt into the active Python.
#   bash envs/install.sh            everything (engine, workflow, tests, neural-tangents reference)
#   bash envs/install.sh --no-reference   skip tensorflow-cpu / neural-tangents (about 600 MB)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/pins.txt"
reference=1
[[ "${1:-}" == "--no-reference" ]] && reference=0
python -m pip install --upgrade pip >/dev/null
main=$(mktemp)
trap 'rm -f "$main"' EXIT
if (( reference )); then
  grep -v -- '# no-deps' "$pins" > "$main"
else
  sed -n '1,/^# Reference implementation/p' "$pins" > "$main"
fi
python -m pip install -r "$main"
if (( reference )); then
  # shellcheck disable=SC2046
  python -m pip install --no-deps $(grep -- '# no-deps' "$pins" | sed 's/ *#.*//')
fi
python -m pip install --no-deps -e "$here/.."
