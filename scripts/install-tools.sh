#!/usr/bin/env bash
# Installs what the integration suite, the benchmarks and the soak test use:
# real SRU clients (YAZ's zoomsh and yaz-client, the npm @natlibfi/sru-client),
# redis-server, wrk, headless Chromium, xmllint (libxml2-utils), nginx and
# Varnish (the cache peers of the benchmarks), tshark (its Z39.50 dissector
# judges the Z39.50 server; YAZ's yaz-ztest is the reference server), and
# Index Data's Zebra (idzebra-2.0: zebraidx, zebrasrv), a real Z39.50 target.
# curl and git: the README demo test clones the repository and curls every URL the demo prints.
# Run as root on Debian. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# node and npm come from Debian (bookworm's Node 18 is enough for
# @natlibfi/sru-client 6.x) unless a newer Node is already installed.
for pair in zoomsh:yaz yaz-client:yaz yaz-ztest:yaz yaz-marcdump:yaz redis-server:redis-server wrk:wrk chromium:chromium xmllint:libxml2-utils nginx:nginx-light varnishd:varnish tshark:tshark zebraidx:idzebra-2.0 zebrasrv:idzebra-2.0 node:nodejs npm:npm curl:curl git:git; do
  cmd=${pair%%:*} pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# nginx-light's and varnish's packages start servers (:80, :6081); the
# benchmarks and tests run their own.
if command -v service >/dev/null 2>&1; then
  service nginx stop >/dev/null 2>&1 || true
  service varnish stop >/dev/null 2>&1 || true
fi

# The Node SRU client, pinned (7.x needs a newer Node than Debian's).
# npm ci again when the lock file is newer than the installed tree.
if [ ! -f integration/node/node_modules/@natlibfi/sru-client/package.json ] ||
   [ integration/node/package-lock.json -nt integration/node/node_modules/.package-lock.json ]; then
  (cd integration/node && npm ci --no-audit --no-fund --loglevel=error)
fi
for cmd in zoomsh yaz-client yaz-ztest yaz-marcdump redis-server wrk chromium xmllint nginx varnishd tshark zebraidx zebrasrv node npm curl git; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "install-tools: $cmd is still missing" >&2; exit 1; }
done
echo "install-tools: all tools present"
