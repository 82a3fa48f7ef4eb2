#!/usr/bin/env bash
# Prepares a fresh checkout: checks Node, installs the locked npm dependencies, builds mediasoup's worker (cached)
# and every package.
# Idempotent and quiet when there is nothing to do. Usage: scripts/setup.sh [--browsers]
#   --browsers   also install Debian's chromium, firefox-esr, coturn (the TURN relay) and redis-server (the cluster tests) when missing (for the end-to-end tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

log() { printf '[setup] %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".").map(Number).slice(0,2).join(".")' 2>/dev/null || echo 0)
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  log "Node >= 20.19 is required (found ${node_major}); install it and retry"; exit 1
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--browsers" ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v firefox-esr >/dev/null || missing+=(firefox-esr)
  command -v turnserver >/dev/null || missing+=(coturn)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v tcpdump >/dev/null || missing+=(tcpdump)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# The SFU's mediasoup worker (C++), built against Debian's libraries and cached across runs (scripts/setup-sfu.sh).
bash scripts/setup-sfu.sh

log "building packages"
npx turbo run build --output-logs=errors-only
