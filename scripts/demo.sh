#!/usr/bin/env bash
# Sets up a fresh checkout and starts the demo (web app + signaling server) on http://127.0.0.1:8080.
# Arguments go to mtcall-demo (try --help; --mitm shows what a man in the middle does to the emoji).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node apps/demo/dist-server/cli.js "$@"
