#!/usr/bin/env bash
# Sets up a fresh checkout and runs the packet-encryption benchmark (arguments go to mtcall-bench; try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node apps/bench/dist/cli.js "$@"
