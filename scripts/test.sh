#!/usr/bin/env bash
# Sets up a fresh checkout and runs every test of every package (the README's test command; CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browsers
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
npm test -- --output-logs=new-only "$@"
