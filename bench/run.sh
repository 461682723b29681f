#!/usr/bin/env bash
# bench/run.sh: SPEC section 8's performance targets, each measured side by
# side with its baseline in one run on this machine, reported as ratios.
#
#   bash bench/run.sh           # run everything (about 6 minutes), rewrite BENCHMARKS.md's results block
#   bash bench/run.sh -n        # run everything, print the results block only
#
# Tunables (environment): BENCH_DURATION (wrk duration per run, 10s),
# BENCH_CONNS (wrk connections, 64), BENCH_ROUNDS (alternating wrk rounds per
# side, 2), BENCH_SOAK (memory soak per cache size, 40s), BENCH_MISS_N
# (BenchmarkMiss iterations, 40). Needs go, curl, wrk, nginx and yaz-marcdump
# (bash scripts/install-tools.sh). Everything listens on 127.0.0.1 only and
# the whole run is bounded by a 10-minute watchdog. Not part of CI.
set -euo pipefail
shopt -s inherit_errexit
# The watchdog: the whole run ends within 10 minutes whatever happens.
if [ -z "${BENCH_UNDER_TIMEOUT:-}" ]; then
  BENCH_UNDER_TIMEOUT=1 exec timeout -k 15 600 bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
root=$(pwd)

write=1
[ "${1:-}" = "-n" ] && write=0
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
ROUNDS=${BENCH_ROUNDS:-2}
SOAK=${BENCH_SOAK:-40}
MISS_N=${BENCH_MISS_N:-40}

for cmd in go curl wrk nginx yaz-marcdump awk; do
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
trap 'echo "bench: stopped (10-minute limit or interrupt)" >&2; exit 143' TERM INT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "bench: no free port" >&2; exit 1
}

# wait_line FILE PATTERN: waits (30s at most) for a line of FILE matching PATTERN and prints it.
wait_line() {
  for _ in $(seq 300); do
    if grep -qE "$2" "$1" 2>/dev/null; then grep -E "$2" "$1" | head -1; return; fi
    sleep 0.1
  done
  echo "bench: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

# rps URL: one wrk run, prints requests/second (and fails on non-2xx answers).
rps() {
  local out
  out=$(wrk -t2 -c"$CONNS" -d"$DUR" --latency "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: non-2xx answers from $1" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

# compare NAME URL [NAME URL ...]: alternating wrk rounds over the sides;
# prints one line per side: "mean run1,run2,...".
compare() {
  local -a names=() urls=() runs=()
  while [ $# -gt 0 ]; do names+=("$1"); urls+=("$2"); runs+=(""); shift 2; done
  local i k r
  for i in $(seq "$ROUNDS"); do
    for k in "${!names[@]}"; do
      r=$(rps "${urls[$k]}")
      log "  ${names[$k]} round $i: $r rps"
      runs[$k]="${runs[$k]:+${runs[$k]},}${r%.*}"
    done
  done
  for k in "${!names[@]}"; do
    awk -v r="${runs[$k]}" 'BEGIN { n = split(r, x, ","); s = 0; for (i = 1; i <= n; i++) s += x[i]; printf "%.0f %s\n", s / n, r }'
  done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
bytes_of() { curl -s -o /dev/null -w '%{size_download}' "$1"; }
header_of() { curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk -v h="$2" 'tolower($1) == tolower(h) ":" { print $2 }'; }

log "building the gateway, the bare-Fiber peer and the collection maker"
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/fiberpeer" ./bench/fiberpeer
go build -o "$work/mkcollection" ./bench/mkcollection

# ---------------------------------------------------------------- processes
log "starting the simulated Alma network"
"$work/gateway" simulate -addr 127.0.0.1:0 >"$work/sim.out" 2>&1 &
pids+=($!)
sru=$(wait_line "$work/sim.out" 'NZ SRU:' | awk '{print $3}')
simhost=$(sed -E 's#http://([^/]+)/.*#\1#' <<<"$sru")
simbase="http://$simhost"

# The call budget protects the real Alma; against the simulator it would
# throttle the miss-heavy soak, so it is raised. Everything else is default.
cat >"$work/gw.yaml" <<EOF
upstream:
  rate_per_second: 100000
  rate_burst: 10000
EOF
start_gateway() { # start_gateway CONFIG OUTFILE [VAR=value...]: sets $gwbase and $gwpid
  local cfg=$1 out=$2
  shift 2
  env ALMA_SRU_URL="$sru" GATEWAY_ADDR=127.0.0.1:0 "$@" "$work/gateway" -config "$cfg" >"$out" 2>"$out.err" &
  gwpid=$!
  pids+=("$gwpid")
  gwbase=$(wait_line "$out" 'gateway listening on' | awk '{print $4}')
}
start_gateway "$work/gw.yaml" "$work/gw.out"
gw=$gwbase
log "gateway at $gw (pid $gwpid), simulator at $simbase"

ngport=$(free_port)
mkdir -p "$work/nginx"
sed -e "s#@WORK@#$work/nginx#g" -e "s#@USER@#$(id -un)#g" -e "s#@PORT@#$ngport#g" -e "s#@UPSTREAM@#$simhost#g" bench/nginx.conf.tmpl >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" 2>"$work/nginx/stderr" &
pids+=($!)
ng="http://127.0.0.1:$ngport"
for _ in $(seq 50); do curl -s -o /dev/null "$ng/" && break; sleep 0.1; done

# ------------------------------------------- 1. cached /sru page vs nginx
log "1. cached /sru page (10 records): gateway vs nginx proxy_cache"
q='query=alma.title%3Dhistory&maximumRecords=10'
gw_sru="$gw/sru?version=1.2&operation=searchRetrieve&$q"
ng_sru="$ng/view/sru/01NET_NETWORK?version=1.2&operation=searchRetrieve&$q&recordSchema=marcxml"
curl -s -o /dev/null "$gw_sru"; curl -s -o /dev/null "$ng_sru"
[ "$(header_of "$gw_sru" X-Cache)" = HIT ] || { echo "bench: the gateway did not cache $gw_sru" >&2; exit 1; }
[ "$(header_of "$ng_sru" X-Cache)" = HIT ] || { echo "bench: nginx did not cache $ng_sru" >&2; cat "$work/nginx/error.log" >&2; exit 1; }
fpsport=$(free_port)
"$work/fiberpeer" -from "$gw_sru" -addr "127.0.0.1:$fpsport" >"$work/fps.out" 2>&1 &
pids+=($!)
wait_line "$work/fps.out" 'fiberpeer serving' >/dev/null
fps="http://127.0.0.1:$fpsport/sru"
mapfile -t t1 < <(compare gateway "$gw_sru" nginx "$ng_sru" bare-fiber "$fps")
[ "${#t1[@]}" = 3 ] || { echo "bench: target 1 measurement failed" >&2; exit 1; }
read -r t1_gw t1_gw_runs <<<"${t1[0]}"; read -r t1_ng t1_ng_runs <<<"${t1[1]}"; read -r t1_fp t1_fp_runs <<<"${t1[2]}"
t1_gw_bytes=$(bytes_of "$gw_sru"); t1_ng_bytes=$(bytes_of "$ng_sru")

# ------------------------------------ 2. cached /v1/search vs bare Fiber
log "2. cached /v1/search (10 records): gateway vs a bare Fiber handler serving the same bytes"
gw_search="$gw/v1/search?q=history"
curl -s -o /dev/null "$gw_search"
[ "$(header_of "$gw_search" X-Cache)" = HIT ] || { echo "bench: the gateway did not cache $gw_search" >&2; exit 1; }
fpport=$(free_port)
"$work/fiberpeer" -from "$gw_search" -addr "127.0.0.1:$fpport" >"$work/fp.out" 2>&1 &
pids+=($!)
wait_line "$work/fp.out" 'fiberpeer serving' >/dev/null
fp="http://127.0.0.1:$fpport/v1/search?q=history"
mapfile -t t2 < <(compare gateway "$gw_search" bare-fiber "$fp")
[ "${#t2[@]}" = 2 ] || { echo "bench: target 2 measurement failed" >&2; exit 1; }
read -r t2_gw t2_gw_runs <<<"${t2[0]}"; read -r t2_fp t2_fp_runs <<<"${t2[1]}"
t2_gw_bytes=$(bytes_of "$gw_search"); t2_fp_bytes=$(bytes_of "$fp")

# --------------------------- 5b. 500 concurrent cold requests, from outside
log "5. 500 concurrent identical cold requests (wrk -c500 on a fresh query) against the running gateway"
curl -s -X POST -o /dev/null "$simbase/_sim/reset"
cold="$gw/v1/search?q=stampede+$(date +%s)"
wrk -t2 -c500 -d2s "$cold" >"$work/stampede.wrk" 2>&1 || true
t5_wrk_reqs=$(awk '/requests in/ {print $1}' "$work/stampede.wrk")
t5_wrk_calls=$(curl -s "$simbase/_sim/counters" | sed -E 's/.*"sru":([0-9]+).*/\1/')

# ------------------------------------------------ 3. transform vs yaz-marcdump
log "3. SRU records to JSON: gateway convert vs yaz-marcdump"
"$work/mkcollection" -records 5000 -repeat 4 >"$work/coll.xml" 2>"$work/coll.err"
t3_n=$(awk '{print $2}' "$work/coll.err")
t3_mb=$(awk -v b="$(wc -c <"$work/coll.xml")" 'BEGIN { printf "%.1f", b / 1048576 }')
# Both must read every record.
got_gw=$("$work/gateway" convert -to json "$work/coll.xml" | grep -o '"position":' | wc -l)
got_yaz=$(yaz-marcdump -i marcxml -o json "$work/coll.xml" | grep -c '"leader"')
[ "$got_gw" = "$t3_n" ] && [ "$got_yaz" = "$t3_n" ] || { echo "bench: convert read $got_gw, yaz-marcdump $got_yaz of $t3_n records" >&2; exit 1; }
time_ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
gw_ms=() yaz_ms=()
for _ in 1 2 3 4 5 6 7; do
  gw_ms+=("$(time_ms "$work/gateway" convert -to json "$work/coll.xml")")
  yaz_ms+=("$(time_ms yaz-marcdump -i marcxml -o json "$work/coll.xml")")
done
med() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
t3_gw_ms=$(med "${gw_ms[@]}"); t3_yaz_ms=$(med "${yaz_ms[@]}")
t3_gw_rps=$(awk -v n="$t3_n" -v ms="$t3_gw_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
t3_yaz_rps=$(awk -v n="$t3_n" -v ms="$t3_yaz_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
log "  convert ${gw_ms[*]} ms; yaz-marcdump ${yaz_ms[*]} ms"
t3_inproc=$(go test ./transform -run '^$' -bench 'BenchmarkConvertFile$' -benchtime 5x -benchfile "$work/coll.xml" 2>&1 |
  awk '/^BenchmarkConvertFile/ { for (i = 1; i < NF; i++) if ($(i + 1) == "records/s") print $i }')

# ----------------------------------------------- 4. miss latency (Go benchmark)
log "4. miss latency against a 50 ms Alma (BenchmarkMiss, $MISS_N iterations)"
go test ./gateway -run '^$' -bench 'BenchmarkMiss$' -benchtime "${MISS_N}x" -alma-latency 50ms -count 1 >"$work/miss.out" 2>&1 ||
  { cat "$work/miss.out" >&2; exit 1; }
metric() { awk -v u="$1" '/^BenchmarkMiss/ { for (i = 2; i <= NF; i++) if ($i == u) print $(i - 1) }' "$work/miss.out"; }
t4_alma10=$(metric alma-10-ms); t4_alma50=$(metric alma-50-ms)
t4_s10=$(metric search-10-ms); t4_sru10=$(metric sru-10-ms); t4_s100=$(metric search-100-ms)
t4_add_s10=$(metric added-search-10-ms); t4_add_sru10=$(metric added-sru-10-ms); t4_add_s100=$(metric added-search-100-ms)
t4_ratio=$(metric 100/10-ratio)

# ----------------------------------------- 5a. 500 concurrent cold (Go test)
log "5. 500 concurrent identical cold requests (TestStampedeOneAlmaCall)"
go test ./gateway -run 'TestStampedeOneAlmaCall' -count 1 -v >"$work/stampede.out" 2>&1 || { cat "$work/stampede.out" >&2; exit 1; }
t5_search=$(grep -A0 'cold /v1/search' "$work/stampede.out" | sed -E 's/.*requests: ([0-9]+) Alma call\(s\); answers map\[(.*)\]/\1 call(s); \2/')
t5_sru=$(grep -A0 'cold /sru' "$work/stampede.out" | sed -E 's/.*requests: ([0-9]+) Alma call\(s\); answers map\[(.*)\]/\1 call(s); \2/')

# ------------------------------------------------------- 6. memory under load
# Each soak: a fresh gateway with the given cache bound, wrk over distinct
# queries (every request a miss that fills the cache), RSS and
# gateway_cache_bytes sampled every 2 seconds.
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
soak() { # soak NAME MAXBYTES [VAR=value...]: writes "idleMB maxRSSMB endRSSMB maxCacheMB requests" to $work/soak-NAME.res
  local name=$1 maxb=$2
  shift 2
  local cfg="$work/soak-$name.yaml" base pid
  printf 'cache:\n  max_bytes: %s\nupstream:\n  rate_per_second: 100000\n  rate_burst: 10000\n' "$maxb" >"$cfg"
  start_gateway "$cfg" "$work/soak-$name.out" "$@"
  base=$gwbase pid=$gwpid
  sleep 1
  local idle; idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  wrk -t2 -c32 -d"${SOAK}s" -s "$work/distinct.lua" "$base" >"$work/soak-$name.wrk" 2>&1 &
  local wrkpid=$!
  local maxrss=0 maxcache=0 rss cb
  : >"$work/soak-$name.samples"
  while kill -0 "$wrkpid" 2>/dev/null; do
    sleep 2
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    cb=$(curl -s "$base/metrics" | awk '/^gateway_cache_bytes / { printf "%.0f", $2 }')
    echo "$rss ${cb:-0}" >>"$work/soak-$name.samples"
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
    [ "${cb:-0}" -gt "$maxcache" ] && maxcache=${cb:-0}
  done
  wait "$wrkpid" || true
  local reqs; reqs=$(awk '/requests in/ {print $1}' "$work/soak-$name.wrk")
  local endrss; endrss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v i="$idle" -v m="$maxrss" -v e="$endrss" -v c="$maxcache" -v r="$reqs" \
    'BEGIN { printf "%.1f %.1f %.1f %.1f %s\n", i / 1024, m / 1024, e / 1024, c / 1048576, r }' >"$work/soak-$name.res"
}
log "6. memory: ${SOAK}s of distinct queries with a 16 MiB cache, then a 64 MiB cache"
soak 16 16777216
read -r m16_idle m16_max m16_end m16_cache m16_reqs <"$work/soak-16.res"
soak 64 67108864
read -r m64_idle m64_max m64_end m64_cache m64_reqs <"$work/soak-64.res"
log "   and again with GOMEMLIMIT = cache bound + 48 MiB"
soak 16L 16777216 GOMEMLIMIT=64MiB
read -r l16_idle l16_max l16_end l16_cache l16_reqs <"$work/soak-16L.res"
soak 64L 67108864 GOMEMLIMIT=112MiB
read -r l64_idle l64_max l64_end l64_cache l64_reqs <"$work/soak-64L.res"

# ------------------------------------------------------------------ report
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "met" : "**missed**" }'; }
verdict_le() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "met" : "**missed**" }'; }
r1=$(ratio "$t1_gw" "$t1_ng"); r2=$(ratio "$t2_gw" "$t2_fp"); r3=$(ratio "$t3_gw_rps" "$t3_yaz_rps")
over() { awk -v m="$1" -v b="$2" 'BEGIN { printf "%.1f", m - b }'; }
o16=$(over "$m16_max" 16); o64=$(over "$m64_max" 64); ol16=$(over "$l16_max" 16); ol64=$(over "$l64_max" 64)
same() { awk -v a="$1" -v b="$2" 'BEGIN { d = b - a; if (d < 0) d = -d; print (d <= 16) ? "met (overheads differ by " d " MB)" : "**missed** (overheads differ by " d " MB)" }'; }
results="$work/results.md"
{
  echo "<!-- bench:begin (written by bench/run.sh; edit the text outside this block) -->"
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), $(go version | awk '{print $3}'), $(nginx -v 2>&1 | awk '{print $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), yaz-marcdump $(yaz-marcdump -V 2>/dev/null | awk '{print $3; exit}'); commit $(git rev-parse --short HEAD)."
  echo "wrk: \`wrk -t2 -c$CONNS -d$DUR URL\`, $ROUNDS alternating rounds per side, mean shown (each round in brackets)."
  echo
  echo "| # | target | gateway | baseline | ratio | goal | verdict |"
  echo "|---|---|---|---|---|---|---|"
  echo "| 1 | cached \`/sru\` page, 10 records | $t1_gw rps [$t1_gw_runs] ($t1_gw_bytes B) | nginx proxy_cache $t1_ng rps [$t1_ng_runs] ($t1_ng_bytes B) | $r1 | ≥ 1.00 | $(verdict "$r1" 1) |"
  echo "| 1′ | (reference) bare Fiber serving the gateway's cached /sru bytes | $t1_fp rps [$t1_fp_runs] | nginx proxy_cache $t1_ng rps | $(ratio "$t1_fp" "$t1_ng") | the ceiling for any Fiber handler | — |"
  echo "| 2 | cached \`/v1/search\`, 10 records | $t2_gw rps [$t2_gw_runs] ($t2_gw_bytes B) | bare Fiber, same bytes $t2_fp rps [$t2_fp_runs] ($t2_fp_bytes B) | $r2 | ≥ 0.90 | $(verdict "$r2" 0.9) |"
  echo "| 3 | MARCXML → JSON, $t3_n records ($t3_mb MB) | \`gateway convert -to json\` $t3_gw_rps rec/s (median $t3_gw_ms ms; in process: ${t3_inproc:-?} rec/s) | \`yaz-marcdump -i marcxml -o json\` $t3_yaz_rps rec/s (median $t3_yaz_ms ms) | $r3 | ≥ 1.00 | $(verdict "$r3" 1) |"
  echo "| 4a | miss, 10 records, added to Alma's latency (median) | /v1/search $t4_s10 ms, /sru $t4_sru10 ms | Alma (simulator, 50 ms) direct $t4_alma10 ms | +$t4_add_s10 ms (JSON), +$t4_add_sru10 ms (SRU) | < 1 ms | $(verdict_le "$t4_add_s10" 1) / $(verdict_le "$t4_add_sru10" 1) |"
  echo "| 4b | miss, 100 records (two Alma pages) vs 10 | /v1/search 100: $t4_s100 ms | /v1/search 10: $t4_s10 ms (Alma 50 records direct: $t4_alma50 ms) | $t4_ratio | ≈ 1 (not 2) | $(verdict_le "$t4_ratio" 1.5) |"
  echo "| 5 | 500 concurrent identical cold requests | /v1/search: $t5_search; /sru: $t5_sru; wrk -c500 on a cold query: $t5_wrk_calls call(s) for $t5_wrk_reqs requests | — | — | exactly 1 Alma call | $( [ "${t5_search%% *}" = 1 ] && [ "${t5_sru%% *}" = 1 ] && [ "$t5_wrk_calls" = 1 ] && echo met || echo '**missed**') |"
  echo "| 6a | memory, 16 MiB cache, ${SOAK}s of distinct queries ($m16_reqs requests) | RSS idle $m16_idle MB, max $m16_max MB, end $m16_end MB; cache bytes max $m16_cache MB | bound 16 MB | RSS − bound = $o16 MB | a fixed overhead | see 6b |"
  echo "| 6b | memory, 64 MiB cache, ${SOAK}s of distinct queries ($m64_reqs requests) | RSS idle $m64_idle MB, max $m64_max MB, end $m64_end MB; cache bytes max $m64_cache MB | bound 64 MB | RSS − bound = $o64 MB | same as 6a | $(same "$o16" "$o64") |"
  echo "| 6c | as 6a with GOMEMLIMIT=64MiB ($l16_reqs requests) | RSS idle $l16_idle MB, max $l16_max MB, end $l16_end MB; cache bytes max $l16_cache MB | bound 16 MB | RSS − bound = $ol16 MB | a fixed overhead | see 6d |"
  echo "| 6d | as 6b with GOMEMLIMIT=112MiB ($l64_reqs requests) | RSS idle $l64_idle MB, max $l64_max MB, end $l64_end MB; cache bytes max $l64_cache MB | bound 64 MB | RSS − bound = $ol64 MB | same as 6c | $(same "$ol16" "$ol64") |"
  echo
  echo "Commands: \`bash bench/run.sh\` (this block); the Go parts alone:"
  echo "\`go test ./gateway -run '^\$' -bench 'BenchmarkMiss\$' -benchtime ${MISS_N}x -alma-latency 50ms\`,"
  echo "\`go test ./gateway -run TestStampedeOneAlmaCall -v\`,"
  echo "\`go test ./gateway -run '^\$' -bench CachedHit -cpuprofile cpu.prof\`,"
  echo "\`go test ./transform -run '^\$' -bench 'BenchmarkConvertFile\$' -benchfile collection.xml\`."
  echo "<!-- bench:end -->"
} >"$results"

if [ "$write" = 1 ] && [ -f BENCHMARKS.md ] && grep -q '<!-- bench:begin' BENCHMARKS.md; then
  awk -v f="$results" '
    /<!-- bench:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- bench:end -->/ { skip = 0; next }
    !skip { print }' BENCHMARKS.md >"$work/B.md" && cp "$work/B.md" BENCHMARKS.md
  log "BENCHMARKS.md updated"
fi
cat "$results"
