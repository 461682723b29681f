#!/usr/bin/env bash
# Z39.50 benchmarks (issue 12), printed as a markdown block for
# BENCHMARKS.md. Over one connection, the exchange "search @attr 1=4
# science, present 1+10 as MARC21" is repeated for DUR against the
# gateway's Z39.50 server (cached: the first exchange warms it) and against
# YAZ's reference server yaz-ztest answering the same exchange; the gateway's
# own cached SRU page of the same 10 records (one GET over one keep-alive
# connection) is the third column. Servers are pinned to CPU 0 (the gateway
# with GOMAXPROCS=1), the load loop (bench/z3950load) to CPU 1; ROUNDS
# alternating rounds, median ratio and spread. Then 200 idle sessions:
# the gateway's RSS and Go heap before and after, per session.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
dur=${DUR:-5s}
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/gateway" ./cmd/gateway
go build -o "$tmp/load" ./bench/z3950load

waitfor() { # file regexp -> first match's group 1
  for _ in $(seq 1 600); do
    if m=$(grep -m1 -oP "$2" "$1" 2>/dev/null); then echo "$m"; return; fi
    sleep 0.1
  done
  echo "timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1
}

taskset -c 1 "$tmp/gateway" simulate -addr 127.0.0.1:0 -records 2000 >"$tmp/sim.out" 2>&1 &
sru=$(waitfor "$tmp/sim.out" 'NZ SRU:\s+\Khttp://\S+')
key=$(waitfor "$tmp/sim.out" 'NZ API key:\s+\K\S+')
printf 'z3950:\n  max_sessions: 300\n' >"$tmp/gw.yaml"
GATEWAY_ADDR=127.0.0.1:0 GATEWAY_Z3950_ADDR=127.0.0.1:0 GATEWAY_CONFIG="$tmp/gw.yaml" REDIS_URL= \
  ALMA_SRU_URL="$sru" ALMA_API_KEY="$key" GOMAXPROCS=1 \
  taskset -c 0 "$tmp/gateway" >"$tmp/gw.out" 2>"$tmp/gw.err" &
gwpid=$!
base=$(waitfor "$tmp/gw.out" 'gateway listening on \Khttp://\S+')
zaddr=$(waitfor "$tmp/gw.out" 'z39.50 listening on tcp:\K\S+')
zport=$(( 20000 + RANDOM % 20000 ))
taskset -c 0 yaz-ztest "tcp:127.0.0.1:$zport" >"$tmp/ztest.log" 2>&1 &
sleep 1
sruurl="$base/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dscience&maximumRecords=10"

rate() { sed -n 's/^\([0-9]*\) exchanges.*/\1/p'; }
gw=(); zt=(); sr=()
for r in $(seq 1 "$rounds"); do
  gw+=("$(taskset -c 1 "$tmp/load" -addr "$zaddr" -d "$dur" | rate)")
  zt+=("$(taskset -c 1 "$tmp/load" -addr "127.0.0.1:$zport" -d "$dur" | rate)")
  sr+=("$(taskset -c 1 "$tmp/load" -sru "$sruurl" -d "$dur" | rate)")
done
ratios() { # a[] b[] -> "median min max"
  local -n a=$1 b=$2
  for i in "${!a[@]}"; do echo "${a[$i]} ${b[$i]}" | awk '{printf "%.3f\n", $1/$2}'; done | sort -n |
    awk '{v[NR]=$1} END {printf "%.2f %.2f %.2f", v[int((NR+1)/2)], v[1], v[NR]}'
}
read -r rz lz hz <<<"$(ratios gw zt)"
read -r rs ls hs <<<"$(ratios gw sr)"

# Memory per idle session: 200 sessions that sent an Init and wait.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$gwpid/status"; }
heap() { curl -s "$base/metrics" | awk '/^go_memstats_heap_inuse_bytes/ {print $2}'; }
mkfifo "$tmp/hold"
sleep 2; rss0=$(rss); heap0=$(heap)
taskset -c 1 "$tmp/load" -addr "$zaddr" -idle 200 <"$tmp/hold" >"$tmp/idle.out" &
exec 3>"$tmp/hold"
waitfor "$tmp/idle.out" '^open \K200' >/dev/null
sleep 2; rss1=$(rss); heap1=$(heap)
exec 3>&-
perrss=$(( (rss1 - rss0) * 1024 / 200 ))
perheap=$(awk -v a="$heap0" -v b="$heap1" 'BEGIN {printf "%d", (b-a)/200}')

load=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<EOT
Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version | cut -d' ' -f3), yaz-ztest $(yaz-client -V 2>/dev/null | head -1 | awk '{print $NF}'), commit $(git rev-parse --short HEAD); load average $load (other engineers' work shared the machine).
Servers on CPU 0 (gateway GOMAXPROCS=1), load loop bench/z3950load on CPU 1, one connection, $rounds alternating rounds of $dur.

| exchange | gateway Z39.50 | baseline | ratio (median [min, max]) | goal |
|---|---|---|---|---|
| cached search + present 1+10 MARC21 | ${gw[*]} /s | yaz-ztest, same exchange: ${zt[*]} /s | $rz [$lz, $hz] | ≥ 1.0 |
| same, against the gateway's cached SRU page (10 MARCXML, one GET) | ${gw[*]} /s | /sru: ${sr[*]} /s | $rs [$ls, $hs] | ≥ 1.0 |
| 200 idle sessions (Init sent) | RSS +$(( rss1 - rss0 )) KiB, Go heap +$(( (${heap1%.*} - ${heap0%.*}) / 1024 )) KiB | — | $perrss B RSS, $perheap B heap per session | — |
EOT
