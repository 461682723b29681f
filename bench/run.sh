#!/usr/bin/env bash
# bench/run.sh: SPEC section 8's performance targets and issue 10's, each
# measured beside its baseline in the same run on this machine, reported as
# median ratios over alternating rounds with their spread (min–max).
#
#   bash bench/run.sh                 # every piece (about 9 minutes)
#   bash bench/run.sh sru search      # only these pieces
#   bash bench/run.sh -o rows.md sru  # also write the result rows to rows.md
#
# Pieces:
#   sru       cached /sru page (10 records): gateway vs nginx proxy_cache and
#             Varnish in front of the same simulator (ratio to the faster of the
#             two in each round), and a bare Fiber handler serving the gateway's bytes
#   search    cached /v1/search (10 records) vs bare Fiber serving the same bytes
#   records   cached /v1/records/{id} vs bare Fiber serving the same bytes
#   fed       cached federated /v1/search page (10 records merged from the
#             network, two members' IZ SRU and the external SRU 2.0 target)
#             vs the cached single-target page of the same query, both from
#             one gateway configured with that group
#   miss      a miss's added latency at 5 ms and 50 ms simulated Alma latency,
#             JSON and SRU (BenchmarkMiss, medians)
#   allocs    allocations per cached hit, gateway vs bare Fiber (BenchmarkCachedHit -benchmem)
#   convert   MARCXML to JSON: gateway convert vs yaz-marcdump
#   stampede  500 concurrent identical cold requests make one Alma call
#   memory    RSS against the cache bound under distinct-query load
#
# Pinning: the server under test and every peer run on CPU 0 with one
# thread of work each (GOMAXPROCS=1, nginx worker_processes 1, Varnish
# thread_pools=1); wrk runs on CPU 1 with one thread. Only one side is loaded
# at a time. A round loads every side once for BENCH_DURATION (5s), in
# alternating order (ABBA), and the ratio of a round compares the sides of
# that round, so a burst of outside load is shared. BENCH_ROUNDS (5).
#
# Tunables (environment): BENCH_DURATION, BENCH_ROUNDS, BENCH_NICE (the
# run's niceness, and its autogroup's, -15 as root, else 0), BENCH_CONNS (wrk
# connections, 64), BENCH_SOAK (memory soak per run, 40s), BENCH_MISS_N
# (BenchmarkMiss iterations, 40), BENCH_PROFILE (a directory: after the
# search and records pieces, a second gateway, pinned alike, started with
# -cpuprofile, takes BENCH_DURATION of the same wrk load alone and writes
# DIR/search.pprof and DIR/records.pprof, with the binary as DIR/gateway
# for `go tool pprof DIR/gateway DIR/search.pprof`; the measured rounds
# are never profiled). Needs go, curl, wrk, taskset, nginx,
# varnishd and yaz-marcdump (bash scripts/install-tools.sh). Everything
# listens on 127.0.0.1 only; a watchdog ends the run after 20 minutes, and
# any side that fails (a non-2xx, a socket error, a process gone, a miss
# where a hit was wanted) stops the run with a message and exit status 1.
# Not part of CI.
set -euo pipefail
shopt -s inherit_errexit
if [ -z "${BENCH_UNDER_TIMEOUT:-}" ]; then
  # setsid: a session of its own, so that with the kernel's autogroup
  # scheduling the run is one group whose priority can be raised below.
  BENCH_UNDER_TIMEOUT=1 exec setsid -w timeout -k 15 1200 bash "$0" "$@"
fi
cd "$(dirname "$0")/.."

rows_out=""
if [ "${1:-}" = "-o" ]; then rows_out=$2; shift 2; fi
all=(sru search records fed miss allocs convert stampede memory)
pieces=("$@")
[ ${#pieces[@]} -gt 0 ] || pieces=("${all[@]}")
for p in "${pieces[@]}"; do
  [[ " ${all[*]} " == *" $p "* ]] || { echo "bench: unknown piece '$p' (pieces: ${all[*]})" >&2; exit 2; }
done
DUR=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS=${BENCH_CONNS:-64}
SOAK=${BENCH_SOAK:-40}
MISS_N=${BENCH_MISS_N:-40}
[ "$ROUNDS" -ge 1 ] || { echo "bench: BENCH_ROUNDS must be at least 1" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 CPUs (server on CPU 0, wrk on CPU 1)" >&2; exit 1; }

for cmd in go curl wrk taskset nginx varnishd yaz-marcdump awk; do
  command -v "$cmd" >/dev/null || { echo "bench: $cmd is missing (bash scripts/install-tools.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/gwbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench: stopped (time limit or interrupt)" >&2; exit 143' TERM INT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
loadavg() { awk '{print $1, $2, $3}' /proc/loadavg; }
want() { [[ " ${pieces[*]} " == *" $1 "* ]]; }
any() { local p; for p in "$@"; do want "$p" && return 0; done; return 1; }

# Pinning: servers on CPU 0 with one thread of work, wrk on CPU 1. On a
# shared machine the measured processes also get a higher scheduling
# priority (BENCH_NICE, -15 when run as root), so that other work on the
# same CPU takes less of their time: both sides of a ratio get it alike.
NICE=${BENCH_NICE:-$([ "$(id -u)" = 0 ] && echo -15 || echo 0)}
# With autogroup scheduling (Linux's default for desktop-like setups) a
# process's nice only counts inside its session's group, and every other
# session's group gets an equal share of a CPU: raise the group's priority.
if [ "$NICE" != 0 ] && [ -w /proc/self/autogroup ]; then
  echo "$NICE" >/proc/self/autogroup 2>/dev/null || true
fi
SERVER=(nice -n "$NICE" taskset -c 0 env GOMAXPROCS=1)
LOADGEN=(nice -n "$NICE" taskset -c 1)
PEER=(nice -n "$NICE" taskset -c 0)

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port"
}

# wait_line FILE PATTERN: waits (30s at most) for a line of FILE matching PATTERN and prints it.
wait_line() {
  for _ in $(seq 300); do
    if grep -qE "$2" "$1" 2>/dev/null; then grep -E "$2" "$1" | head -1; return; fi
    sleep 0.1
  done
  echo "bench: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

# wait_http URL: waits (10s at most) until URL answers at all.
wait_http() {
  for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.1; done
  die "nothing answers at $1"
}

bytes_of() { curl -s -o /dev/null -w '%{size_download}' "$1"; }
header_of() { curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk -v h="$2" 'tolower($1) == tolower(h) ":" { print $2 }'; }
must_hit() { # must_hit NAME URL: the answer must be a cache hit now
  local x; x=$(header_of "$2" X-Cache)
  [ "$x" = HIT ] || die "$1 did not answer $2 from its cache (X-Cache: '${x}')"
}
alive() { kill -0 "$2" 2>/dev/null || die "$1 (pid $2) is gone"; }

# one_run NAME URL PID: one wrk run on CPU 1 against URL, prints requests/s.
# Fails if wrk reports any error or non-2xx, or the server died.
one_run() {
  local f="$work/wrk.$1.$RANDOM"
  "${LOADGEN[@]}" wrk -t1 -c"$CONNS" -d"$DUR" "$2" >"$f" 2>&1 || { cat "$f" >&2; die "wrk failed against $1 ($2)"; }
  alive "$1" "$3"
  "$work/rounds" wrk "$f" || { cat "$f" >&2; die "$1 failed under load ($2)"; }
}

# compare OUT NAME URL PID [NAME URL PID ...]: ROUNDS alternating rounds
# (order reversed every other round), one "ROUND NAME RPS" line per run in OUT.
compare() {
  local out=$1; shift
  local -a names=() urls=() ps=()
  while [ $# -gt 0 ]; do names+=("$1"); urls+=("$2"); ps+=("$3"); shift 3; done
  : >"$out"
  local i k n=${#names[@]} r order
  for i in $(seq "$ROUNDS"); do
    order=$(seq 0 $((n - 1)))
    [ $((i % 2)) = 0 ] && order=$(seq $((n - 1)) -1 0)
    for k in $order; do
      r=$(one_run "${names[$k]}" "${urls[$k]}" "${ps[$k]}")
      log "  round $i ${names[$k]}: $r rps"
      echo "$i ${names[$k]} $r" >>"$out"
    done
  done
}

# field SUMMARY KEY: a value from a `rounds ratio` line.
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "met" : "**missed**" }'; }
verdict_lt() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 < t + 0) ? "met" : "**missed**" }'; }

rows="$work/rows.md"
: >"$rows"
row() { echo "$*" >>"$rows"; echo "$*" >&2; }

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' || echo ' (with uncommitted changes)')"
log "building the gateway, its test binary and the helpers at $commit"
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/fiberpeer" ./bench/fiberpeer
go build -o "$work/rounds" ./bench/rounds
any convert && go build -o "$work/mkcollection" ./bench/mkcollection
any miss allocs && go test -c -o "$work/gateway.test" ./gateway
load_start=$(loadavg)
log "load average at start: $load_start"

# ---------------------------------------------------------------- processes
if any sru search records fed stampede memory; then
  "$work/gateway" simulate -addr 127.0.0.1:0 >"$work/sim.out" 2>&1 &
  simpid=$!; pids+=("$simpid")
  sru=$(wait_line "$work/sim.out" 'NZ SRU:' | awk '{print $3}')
  simhost=$(sed -E 's#http://([^/]+)/.*#\1#' <<<"$sru")
  simbase="http://$simhost"
  # The call budget protects the real Alma; against the simulator it would
  # throttle the miss-heavy runs, so it is raised. Everything else is default.
  printf 'upstream:\n  rate_per_second: 100000\n  rate_burst: 10000\n' >"$work/gw.yaml"
fi
gwflags=() # more flags for start_gateway's gateway
start_gateway() { # start_gateway CONFIG OUTFILE [VAR=value...]: sets $gwbase and $gwpid; pinned
  local cfg=$1 out=$2
  shift 2
  "${SERVER[@]}" ALMA_SRU_URL="$sru" GATEWAY_ADDR=127.0.0.1:0 "$@" "$work/gateway" -config "$cfg" "${gwflags[@]}" >"$out" 2>"$out.err" &
  gwpid=$!
  pids+=("$gwpid")
  gwbase=$(wait_line "$out" 'gateway listening on' | awk '{print $4}')
}
start_fiberpeer() { # start_fiberpeer NAME FROM: serves FROM's bytes, pinned; sets $fpbase and $fppid
  local port; port=$(free_port)
  "${SERVER[@]}" "$work/fiberpeer" -from "$2" -addr "127.0.0.1:$port" >"$work/$1.out" 2>&1 &
  fppid=$!; pids+=("$fppid")
  wait_line "$work/$1.out" 'fiberpeer serving' >/dev/null
  fpbase="http://127.0.0.1:$port"
}
if any sru search records stampede; then
  start_gateway "$work/gw.yaml" "$work/gw.out"
  gw=$gwbase gwmain=$gwpid
  log "gateway at $gw (pid $gwpid, CPU 0, GOMAXPROCS=1), simulator at $simbase"
fi

# ------------------------------------------- cached /sru vs nginx and Varnish
if want sru; then
  log "sru: cached /sru page (10 records): gateway vs nginx proxy_cache and Varnish (and bare Fiber)"
  ngport=$(free_port)
  mkdir -p "$work/nginx"
  sed -e "s#@WORK@#$work/nginx#g" -e "s#@USER@#$(id -un)#g" -e "s#@PORT@#$ngport#g" -e "s#@UPSTREAM@#$simhost#g" bench/nginx.conf.tmpl >"$work/nginx/nginx.conf"
  "${PEER[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" 2>"$work/nginx/stderr" &
  ngpid=$!; pids+=("$ngpid")
  ng="http://127.0.0.1:$ngport"
  wait_http "$ng/"

  vaport=$(free_port)
  mkdir -p "$work/varnish"
  sed -e "s#@HOST@#${simhost%:*}#g" -e "s#@PORT@#${simhost##*:}#g" bench/varnish.vcl.tmpl >"$work/varnish.vcl"
  "${PEER[@]}" varnishd -F -j none -n "$work/varnish" -a "127.0.0.1:$vaport" -f "$work/varnish.vcl" \
    -s malloc,256m -p thread_pools=1 >"$work/varnish.out" 2>&1 &
  vapid=$!; pids+=("$vapid")
  va="http://127.0.0.1:$vaport"
  wait_http "$va/" || { cat "$work/varnish.out" >&2; exit 1; }

  q='query=alma.title%3Dhistory&maximumRecords=10'
  gw_sru="$gw/sru?version=1.2&operation=searchRetrieve&$q"
  up="/view/sru/01NET_NETWORK?version=1.2&operation=searchRetrieve&$q&recordSchema=marcxml"
  for u in "$gw_sru" "$ng$up" "$va$up"; do curl -sf -o /dev/null "$u" || die "GET $u failed"; done
  must_hit gateway "$gw_sru"; must_hit nginx "$ng$up"; must_hit varnish "$va$up"
  start_fiberpeer fps "$gw_sru"
  compare "$work/sru.rounds" gateway "$gw_sru" "$gwmain" nginx "$ng$up" "$ngpid" varnish "$va$up" "$vapid" bare-fiber "$fpbase/sru" "$fppid"
  must_hit gateway "$gw_sru"; must_hit nginx "$ng$up"; must_hit varnish "$va$up"
  s1=$("$work/rounds" ratio -a gateway -b nginx,varnish "$work/sru.rounds")
  s1f=$("$work/rounds" ratio -a bare-fiber -b nginx,varnish "$work/sru.rounds")
  s1n=$("$work/rounds" ratio -a gateway -b nginx "$work/sru.rounds")
  s1v=$("$work/rounds" ratio -a gateway -b varnish "$work/sru.rounds")
  r=$(field "$s1" ratio)
  row "| cached \`/sru\` page, 10 records | gateway $(field "$s1" gateway) rps ($(bytes_of "$gw_sru") B) | faster of nginx $(field "$s1" nginx) / Varnish $(field "$s1" varnish) rps ($(bytes_of "$ng$up") B; faster: nginx $(field "$s1" faster-nginx), Varnish $(field "$s1" faster-varnish) rounds) | **$r** ($(field "$s1" min)–$(field "$s1" max)); vs nginx $(field "$s1n" ratio), vs Varnish $(field "$s1v" ratio) | ≥ 1.00 | $(verdict "$r" 1) |"
  row "| (reference) bare Fiber serving the gateway's /sru bytes | bare Fiber $(field "$s1f" bare-fiber) rps | the same rounds' faster of nginx / Varnish | $(field "$s1f" ratio) ($(field "$s1f" min)–$(field "$s1f" max)) | the ceiling of a Fiber handler | — |"
  kill "$fppid"
fi

# ---------------------------------------------- cached /v1 routes vs bare Fiber
v1_target() { # v1_target NAME LABEL URL
  local name=$1 label=$2 u=$3
  curl -sf -o /dev/null "$u" || die "GET $u failed"
  must_hit gateway "$u"
  start_fiberpeer "fp-$name" "$u"
  local peer="$fpbase${u#"$gw"}"
  [ "$(curl -s "$peer" | stripmeta | md5sum)" = "$(curl -s "$u" | stripmeta | md5sum)" ] || die "the bare Fiber peer does not serve the gateway's bytes for $u"
  compare "$work/$name.rounds" gateway "$u" "$gwmain" bare-fiber "$peer" "$fppid"
  must_hit gateway "$u"
  local s; s=$("$work/rounds" ratio -a gateway -b bare-fiber "$work/$name.rounds")
  local r; r=$(field "$s" ratio)
  row "| cached $label | gateway $(field "$s" gateway) rps ($(bytes_of "$u") B) | bare Fiber, same bytes $(field "$s" bare-fiber) rps | **$r** ($(field "$s" min)–$(field "$s" max)) | ≥ 0.90 | $(verdict "$r" 0.9) |"
  kill "$fppid"
}
# profile_gateway NAME PATH: with BENCH_PROFILE set, a fresh gateway with
# -cpuprofile serves PATH (warmed, a cache hit) to one wrk run, then stops
# and writes $BENCH_PROFILE/NAME.pprof.
profile_gateway() {
  [ -n "${BENCH_PROFILE:-}" ] || return 0
  local name=$1 path=$2 prof
  mkdir -p "$BENCH_PROFILE"
  prof="$(cd "$BENCH_PROFILE" && pwd)/$name.pprof"
  cp "$work/gateway" "$BENCH_PROFILE/gateway"
  gwflags=(-cpuprofile "$prof")
  start_gateway "$work/gw.yaml" "$work/prof-$name.out"
  gwflags=()
  curl -sf -o /dev/null "$gwbase$path" || die "GET $gwbase$path failed"
  must_hit "profiled gateway" "$gwbase$path"
  local r; r=$(one_run "profiled-$name" "$gwbase$path" "$gwpid")
  kill "$gwpid"; wait "$gwpid" 2>/dev/null || true
  [ -s "$prof" ] || die "the profiled gateway wrote no $prof"
  log "  profile of $name ($r rps under the profiler): $prof"
}
# stripmeta drops the per-request meta block (request id, age) of a /v1 body.
stripmeta() { sed -E 's/,"meta":\{[^}]*\}\}?$//'; }
if want search; then
  log "search: cached /v1/search (10 records) vs a bare Fiber handler serving the same bytes"
  v1_target search '`/v1/search`, 10 records' "$gw/v1/search?q=history"
  profile_gateway search "/v1/search?q=history"
fi
if want records; then
  log "records: cached /v1/records/{id} vs a bare Fiber handler serving the same bytes"
  id=$(curl -sf "$gw/v1/search?q=history&limit=1" | grep -oE '"mms_id":"[0-9]+"' | head -1 | grep -oE '[0-9]+') ||
    die "no MMS ID in $gw/v1/search?q=history&limit=1"
  v1_target records '`/v1/records/{id}`' "$gw/v1/records/$id"
  profile_gateway records "/v1/records/$id"
fi

# ------------------------------- cached federated page vs single-target page
if want fed; then
  log "fed: cached federated /v1/search page (4 targets) vs the cached single-target page, one gateway"
  # The simulator's members (code, SRU URL) and its external target, as
  # gateway simulate printed them, configured as an operator would.
  {
    cat "$work/gw.yaml"
    echo "members:"
    awk '$1 ~ /^[0-9A-Z_]+$/ && / SRU http/ { for (i = 1; i <= NF; i++) if ($i == "SRU") print "  - code: " $1 "\n    sru_url: " $(i + 1) }' "$work/sim.out"
    ext=$(awk '/external:/ {print $2}' "$work/sim.out")
    printf 'targets:\n  - name: ext\n    url: %s\n    version: "2.0"\n    page_size: 25\n    index_map:\n' "$ext"
    printf '      alma.all_for_ui: cql.serverChoice\n      alma.title: dc.title\n      alma.creator: dc.creator\n      alma.isbn: bath.isbn\n'
  } >"$work/fed.yaml"
  mapfile -t members < <(awk '/^members:/ {m = 1; next} m && /code:/ {print $3}' "$work/fed.yaml")
  [ ${#members[@]} -ge 2 ] || die "no members found in the simulator's output ($work/sim.out)"
  printf 'groups:\n  all: [nz, %s, %s, ext]\n' "${members[0]}" "${members[1]}" >>"$work/fed.yaml"
  start_gateway "$work/fed.yaml" "$work/fedgw.out"
  fedgw=$gwbase fedpid=$gwpid
  single="$fedgw/v1/search?q=history" merged="$fedgw/v1/search?q=history&targets=all"
  for u in "$single" "$merged"; do
    for _ in 1 2 3; do curl -sf -o /dev/null "$u" || die "GET $u failed"; done
    must_hit "federating gateway" "$u"
  done
  [ "$(curl -s "$merged" | grep -o '"status":"ok"' | wc -l)" = 4 ] || die "the merged page does not have four targets answering ok: $merged"
  compare "$work/fed.rounds" fed "$merged" "$fedpid" single "$single" "$fedpid"
  must_hit "federating gateway" "$single"; must_hit "federating gateway" "$merged"
  s=$("$work/rounds" ratio -a fed -b single "$work/fed.rounds")
  r=$(field "$s" ratio)
  row "| cached federated \`/v1/search\` page, 10 records of 4 targets | gateway $(field "$s" fed) rps ($(bytes_of "$merged") B) | the same gateway's cached single-target page $(field "$s" single) rps ($(bytes_of "$single") B) | **$r** ($(field "$s" min)–$(field "$s" max)) | ≥ 1.00 | $(verdict "$r" 1) |"
  kill "$fedpid"; wait "$fedpid" 2>/dev/null || true
fi

# ----------------------------------------------- miss latency (Go benchmark)
if want miss; then
  for lat in 5ms 50ms; do
    log "miss: BenchmarkMiss at $lat simulated Alma latency, $MISS_N iterations, pinned to CPU 0 with GOMAXPROCS=1"
    "${SERVER[@]}" "$work/gateway.test" -test.run '^$' -test.bench 'BenchmarkMiss$' -test.benchtime "${MISS_N}x" \
      -test.count 1 -test.cpu 1 -alma-latency "$lat" >"$work/miss-$lat.out" 2>&1 || { cat "$work/miss-$lat.out" >&2; die "BenchmarkMiss failed"; }
    m() { awk -v u="$1" '/^BenchmarkMiss/ { for (i = 2; i <= NF; i++) if ($i == u) print $(i - 1) }' "$work/miss-$lat.out"; }
    a10=$(m alma-10-ms) s10=$(m search-10-ms) r10=$(m sru-10-ms) as=$(m added-search-10-ms) ar=$(m added-sru-10-ms)
    [ -n "$as" ] && [ -n "$ar" ] || { cat "$work/miss-$lat.out" >&2; die "BenchmarkMiss reported no added latency"; }
    ms() { awk -v x="$1" 'BEGIN { printf "%+.2f", x }'; }
    row "| a miss's added latency, Alma at $lat, 10 records (median of $MISS_N) | /v1/search $s10 ms, /sru $r10 ms | Alma (simulator) direct $a10 ms | **$(ms "$as") ms** (JSON), **$(ms "$ar") ms** (SRU) | < 1 ms | $(verdict_lt "$as" 1) / $(verdict_lt "$ar" 1) |"
  done
fi

# ---------------------------------------------------- allocations per hit
if want allocs; then
  log "allocs: BenchmarkCachedHit -benchmem, pinned to CPU 0 with GOMAXPROCS=1"
  "${SERVER[@]}" "$work/gateway.test" -test.run '^$' -test.bench 'BenchmarkCachedHit' -test.benchmem -test.benchtime 1s \
    -test.count 1 -test.cpu 1 >"$work/allocs.out" 2>&1 || { cat "$work/allocs.out" >&2; die "BenchmarkCachedHit failed"; }
  al() { awk -v n="BenchmarkCachedHit/$1" '$1 == n { for (i = 2; i <= NF; i++) if ($i == "allocs/op") print $(i - 1) " allocs, " $(i - 3) " B" }' "$work/allocs.out"; }
  # every route BenchmarkCachedHit covers (search-json-10, sru-marcxml-10, record-json, …)
  mapfile -t routes < <(awk '$1 ~ /^BenchmarkCachedHit\/.*\/gateway$/ { split($1, a, "/"); print a[2] }' "$work/allocs.out")
  [ ${#routes[@]} -ge 2 ] || { cat "$work/allocs.out" >&2; die "BenchmarkCachedHit reported fewer than two routes"; }
  for p in "${routes[@]}"; do
    g=$(al "$p/gateway") b=$(al "$p/bare-fiber")
    [ -n "$g" ] && [ -n "$b" ] || { cat "$work/allocs.out" >&2; die "BenchmarkCachedHit/$p reported no allocations"; }
    extra=$(( ${g%% *} - ${b%% *} ))
    row "| allocations per cached hit, $p (in process) | gateway $g per op | bare Fiber $b per op | +$extra allocs | 0 beyond Fiber's | $([ "$extra" -le 0 ] && echo met || echo '**missed**') |"
  done
fi

# ------------------------------------------------ transform vs yaz-marcdump
if want convert; then
  log "convert: MARCXML to JSON: gateway convert vs yaz-marcdump (both on CPU 0)"
  "$work/mkcollection" -records 5000 -repeat 4 >"$work/coll.xml" 2>"$work/coll.err"
  n=$(awk '{print $2}' "$work/coll.err")
  got_gw=$("$work/gateway" convert -to json "$work/coll.xml" | grep -o '"position":' | wc -l)
  got_yaz=$(yaz-marcdump -i marcxml -o json "$work/coll.xml" | grep -c '"leader"')
  [ "$got_gw" = "$n" ] && [ "$got_yaz" = "$n" ] || die "convert read $got_gw, yaz-marcdump $got_yaz of $n records"
  time_ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
  : >"$work/convert.rounds"
  for i in $(seq "$ROUNDS"); do
    g=$(time_ms "${SERVER[@]}" "$work/gateway" convert -to json "$work/coll.xml")
    y=$(time_ms "${PEER[@]}" yaz-marcdump -i marcxml -o json "$work/coll.xml")
    log "  round $i: convert $g ms, yaz-marcdump $y ms"
    # records/s, so that a higher number is better as for wrk
    echo "$i gateway $(awk -v n="$n" -v ms="$g" 'BEGIN { printf "%.0f", n * 1000 / ms }')" >>"$work/convert.rounds"
    echo "$i yaz $(awk -v n="$n" -v ms="$y" 'BEGIN { printf "%.0f", n * 1000 / ms }')" >>"$work/convert.rounds"
  done
  s=$("$work/rounds" ratio -a gateway -b yaz "$work/convert.rounds")
  r=$(field "$s" ratio)
  row "| MARCXML → JSON, $n records | \`gateway convert -to json\` $(field "$s" gateway) rec/s | \`yaz-marcdump -i marcxml -o json\` $(field "$s" yaz) rec/s | **$r** ($(field "$s" min)–$(field "$s" max)) | ≥ 1.00 | $(verdict "$r" 1) |"
fi

# ------------------------------------------ 500 concurrent cold requests
if want stampede; then
  log "stampede: wrk -c500 on a fresh query against the running gateway, counting Alma calls"
  curl -s -X POST -o /dev/null "$simbase/_sim/reset"
  cold="$gw/v1/search?q=stampede+$(date +%s)"
  "${LOADGEN[@]}" wrk -t1 -c500 -d2s "$cold" >"$work/stampede.wrk" 2>&1 || { cat "$work/stampede.wrk" >&2; die "wrk failed"; }
  reqs=$(awk '/requests in/ {print $1}' "$work/stampede.wrk")
  calls=$(curl -s "$simbase/_sim/counters" | sed -E 's/.*"sru":([0-9]+).*/\1/')
  row "| 500 concurrent identical cold requests | wrk -c500 -d2s on a cold /v1/search: $calls Alma call(s) for $reqs requests | — | — | exactly 1 Alma call | $([ "$calls" = 1 ] && echo met || echo '**missed**') |"
fi

# ------------------------------------------------------- memory under load
if want memory; then
  cat >"$work/distinct.lua" <<'EOF'
-- Every request a distinct query: all records but one MMS ID (a full
-- result list), at a random start, as /sru (MARCXML) or /v1/search (JSON).
local n = 0
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000) + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end
request = function()
  n = n + 1
  local id = math.random(1, 1000000000)
  local start = math.random(1, 4900)
  if n % 2 == 0 then
    return wrk.format("GET", "/sru?version=1.2&operation=searchRetrieve&query=alma.mms_id%3C%3E" .. id ..
      "&startRecord=" .. start .. "&maximumRecords=" .. (10 + n % 41))
  end
  return wrk.format("GET", "/v1/search?query=alma.mms_id%3C%3E" .. id .. "&start=" .. start .. "&limit=" .. (10 + n % 41))
end
EOF
  soak() { # soak MAXBYTES [VAR=value...]: prints "idleMB maxRSSMB maxCacheMB requests"
    local maxb=$1; shift
    local cfg="$work/soak-$maxb.yaml"
    printf 'cache:\n  max_bytes: %s\nupstream:\n  rate_per_second: 100000\n  rate_burst: 10000\n' "$maxb" >"$cfg"
    start_gateway "$cfg" "$work/soak-$maxb.out" "$@"
    local base=$gwbase pid=$gwpid
    sleep 1
    local idle maxrss=0 maxcache=0 rss cb
    idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    "${LOADGEN[@]}" wrk -t1 -c32 -d"${SOAK}s" -s "$work/distinct.lua" "$base" >"$work/soak.wrk" 2>&1 &
    local wrkpid=$!
    while kill -0 "$wrkpid" 2>/dev/null; do
      sleep 2
      alive gateway "$pid"
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
      cb=$(curl -s "$base/metrics" | awk '/^gateway_cache_bytes / { printf "%.0f", $2 }')
      [ "$rss" -gt "$maxrss" ] && maxrss=$rss
      [ "${cb:-0}" -gt "$maxcache" ] && maxcache=${cb:-0}
    done
    wait "$wrkpid" || { cat "$work/soak.wrk" >&2; die "wrk failed in the memory soak"; }
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -v i="$idle" -v m="$maxrss" -v c="$maxcache" -v r="$(awk '/requests in/ {print $1}' "$work/soak.wrk")" \
      'BEGIN { printf "%.1f %.1f %.1f %s\n", i / 1024, m / 1024, c / 1048576, r }'
  }
  for mb in 16 64; do
    log "memory: ${SOAK}s of distinct queries with a $mb MiB cache"
    read -r idle mx cmax reqs < <(soak $((mb << 20)))
    row "| memory, $mb MiB cache, ${SOAK}s of distinct queries ($reqs requests) | RSS idle $idle MB, max $mx MB; cache bytes max $cmax MB | bound $mb MB | RSS − bound = $(awk -v m="$mx" -v b="$mb" 'BEGIN { printf "%.1f", m - b }') MB | a fixed overhead | — |"
  done
fi

# ------------------------------------------------------------------ report
load_end=$(loadavg)
{
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(go version | awk '{print $3}'), $(nginx -v 2>&1 | awk '{print $3}'), $(varnishd -V 2>&1 | head -1 | grep -oE "varnish-[0-9.]+"), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')."
  echo "Load average (1, 5, 15 min) at start $load_start, at end $load_end. Pieces: ${pieces[*]}."
  echo "Servers pinned to CPU 0 (GOMAXPROCS=1, nginx worker_processes 1, Varnish thread_pools=1), \`taskset -c 1 wrk -t1 -c$CONNS -d$DUR\`, all at nice $NICE; $ROUNDS alternating rounds; median of the per-round ratios (min–max)."
  echo
  echo "| target | gateway (median) | baseline (median) | ratio or result | goal | verdict |"
  echo "|---|---|---|---|---|---|"
  cat "$rows"
} >"$work/report.md"
[ -z "$rows_out" ] || cp "$work/report.md" "$rows_out"
cat "$work/report.md"
