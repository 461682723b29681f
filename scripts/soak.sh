#!/usr/bin/env bash
# Bounded load-and-fault soak of the gateway (issue 7; RELIABILITY.md).
# Builds the gateway and the soak driver, then runs the soak on loopback for
# DURATION (default 90s) with CLIENTS concurrent clients (default 48). It
# stops by itself; its report goes to standard output, and it exits non-zero
# when the gateway gave a 5xx other than 503, left a request unanswered,
# logged a panic, or did not exit cleanly on SIGTERM.
#   scripts/soak.sh 90s [extra soak flags]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-90s}
shift || true
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/gateway" ./cmd/gateway
go build -o "$bin/soak" ./cmd/soak
exec "$bin/soak" -gateway "$bin/gateway" -duration "$duration" "$@"
