#!/usr/bin/env bash
# Stop the test cluster of tests/slurm/start.sh (the daemons it started, by their pid files).
exec bash "$(dirname "$0")/start.sh" stop
