#!/usr/bin/env bash
# Run by Snakemake after it creates envs/reference.yaml: the pins of envs/pins.txt tagged 'no-deps'
# (they declare the full 'tensorflow' wheel; the env's 'tensorflow-cpu' provides its module).
set -euo pipefail
python -m pip install --no-deps neural-tangents==0.6.5 tf2jax==0.3.6
