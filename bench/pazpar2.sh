#!/usr/bin/env bash
# pazpar2 and the gateway side by side (issue 20) on the same four targets:
# the simulated network's NZ SRU and one member's IZ SRU (Alma latency
# LATENCY), Zebra over Z39.50 indexing MARC records of the simulator, and a
# Z39.50 target that accepts and never answers. For ROUNDS rounds, each a
# fresh query: the time to a merged answer from each, and what it merged.
#   gateway: one GET /v1/search over the group of the four (federation
#            deadline DEADLINE);
#   pazpar2: search, then stat polled every 10 ms: "healthy in" when only
#            the hung target is still active, "show" when none is (the hung
#            one ended by pazpar2's z3950_operation timeout, PZ_TIMEOUT s,
#            30 by default as in its default.xml), then show.
# CI does not run it: pazpar2 is built from Index Data's source
# (github.com/indexdata/pazpar2 with its submodules m4 and id-docbook-common;
# apt-get install autoconf automake libtool; ./buildconf.sh &&
# ./configure --with-yaz=pkg && make -C src). PAZPAR2 is the binary,
# PZ_ETC its source's etc/ (marc21.xsl).
set -euo pipefail
cd "$(dirname "$0")/.."
pazpar2=${PAZPAR2:?set PAZPAR2 to a built pazpar2 binary}
pzetc=${PZ_ETC:-$(dirname "$(dirname "$pazpar2")")/etc}
rounds=${ROUNDS:-3}
deadline=${DEADLINE:-1s}
pztimeout=${PZ_TIMEOUT:-30}
latency=${LATENCY:-50ms}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

waitfor() { # file regexp -> first match
  for _ in $(seq 1 600); do
    if m=$(grep -m1 -oP "$2" "$1" 2>/dev/null); then echo "$m"; return; fi
    sleep 0.1
  done
  echo "timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1
}
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$tmp/gateway" ./cmd/gateway
"$tmp/gateway" simulate -addr 127.0.0.1:0 -records 2000 -latency "$latency" >"$tmp/sim.out" 2>&1 &
pids+=($!)
sru=$(waitfor "$tmp/sim.out" 'NZ SRU:\s+\Khttp://\S+')
key=$(waitfor "$tmp/sim.out" 'NZ API key:\s+\K\S+')
simbase=${sru%/view/sru/*}
network=${sru##*/}
member=$(waitfor "$tmp/sim.out" '^\s+\K\d\dNET_INST')
simhost=${simbase#http://}

# Zebra: the simulator's first 100 history records, as ISO 2709.
curl -sf "$sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=100" >"$tmp/sru.xml"
yaz-marcdump -i marcxml -o marc "$tmp/sru.xml" >"$tmp/records.mrc" 2>/dev/null
tab=/usr/share/idzebra-2.0/tab
modules=$(ls -d /usr/lib/*/idzebra-2.0/modules | head -1)
mkdir "$tmp/reg"
# usmarc.abs, with 245 $a as a title word and phrase (as integration/zebra_test.go's gwmarc.abs)
cp "$tab/usmarc.abs" "$tmp/gwmarc.abs"
printf 'profilePath: %s:%s\nmodulePath: %s\nattset: bib1.att\nattset: explain.att\nrecordType: grs.marc.gwmarc\nregister: %s:100M\nlockDir: %s\nisam: b\nencoding: utf-8\n' \
  "$tmp" "$tab" "$modules" "$tmp/reg" "$tmp" >"$tmp/zebra.cfg"
zebraidx -c "$tmp/zebra.cfg" -d Default update "$tmp/records.mrc" >"$tmp/zebraidx.log" 2>&1
zport=$(freeport)
zebrasrv -c "$tmp/zebra.cfg" -l "$tmp/zebrasrv.log" -p "$tmp/zebrasrv.pid" "tcp:127.0.0.1:$zport" &
pids+=($!)
# The hung target: accepts, reads, never answers.
hport=$(freeport)
python3 -c "
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $hport)); s.listen(64)
def hold(c):
    while c.recv(65536): pass
while True:
    c, _ = s.accept(); threading.Thread(target=hold, args=(c,), daemon=True).start()
" &
pids+=($!)
sleep 1

# The gateway over the four.
cat >"$tmp/gw.yaml" <<YAML
members:
  - code: $member
    sru_url: $simbase/view/sru/$member
targets:
  - name: zebra
    protocol: z3950
    address: 127.0.0.1:$zport
    database: Default
  - name: hung
    protocol: z3950
    address: 127.0.0.1:$hport
    database: Default
    timeout: 5m
groups:
  four: [nz, $member, zebra, hung]
YAML
GATEWAY_ADDR=127.0.0.1:0 GATEWAY_CONFIG="$tmp/gw.yaml" REDIS_URL= GATEWAY_FEDERATION_TIMEOUT="$deadline" \
  ALMA_SRU_URL="$sru" ALMA_API_URL="$simbase" ALMA_API_KEY="$key" "$tmp/gateway" >"$tmp/gw.out" 2>"$tmp/gw.err" &
pids+=($!)
base=$(waitfor "$tmp/gw.out" 'gateway listening on \Khttp://\S+')

# pazpar2 over the same four.
pzport=$(freeport)
mkdir "$tmp/pzset"
sruset() { # name path
  cat <<XML
<settings target="$simhost$2">
  <set name="pz:name" value="$1"/>
  <set name="pz:sru" value="get"/>
  <set name="pz:sru_version" value="1.2"/>
  <set name="pz:cclmap:term" value="1=alma.all_for_ui s=al"/>
  <set name="pz:cclmap:ti" value="1=alma.title s=al"/>
  <set name="pz:elements" value="marcxml"/>
  <set name="pz:nativesyntax" value="xml"/>
  <set name="pz:xslt" value="marc21.xsl"/>
</settings>
XML
}
zset() { # name hostport
  cat <<XML
<settings target="$2/Default">
  <set name="pz:name" value="$1"/>
  <set name="pz:cclmap:term" value="u=1016 t=l,r s=al"/>
  <set name="pz:cclmap:ti" value="u=4 s=al"/>
  <set name="pz:requestsyntax" value="marc21"/>
  <set name="pz:elements" value="F"/>
  <set name="pz:nativesyntax" value="iso2709"/>
  <set name="pz:xslt" value="marc21.xsl"/>
</settings>
XML
}
sruset nz "/view/sru/$network" >"$tmp/pzset/nz.xml"
sruset "$member" "/view/sru/$member" >"$tmp/pzset/member.xml"
zset zebra "127.0.0.1:$zport" >"$tmp/pzset/zebra.xml"
zset hung "127.0.0.1:$hport" >"$tmp/pzset/hung.xml"
# pazpar2's default.xml service (metadata, ICU chains), its settings and
# timeout replaced.
sed -e "s|<settings src=\"settings/testserver.xml\"/>|<settings src=\"$tmp/pzset\"/>|" \
    -e "s|z3950_operation=\"30\"|z3950_operation=\"$pztimeout\"|" "$pzetc/default.xml" >"$tmp/default.xml"
cat >"$tmp/pz.cfg" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<pazpar2 xmlns="http://www.indexdata.com/pazpar2/1.0">
  <file path="$pzetc:$pzetc/xsl"/>
  <server>
    <listen host="127.0.0.1" port="$pzport"/>
    <include src="$tmp/default.xml"/>
  </server>
</pazpar2>
XML
"$pazpar2" -f "$tmp/pz.cfg" -l "$tmp/pz.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$pzport/search.pz2?command=ping" >/dev/null && break; sleep 0.1; done
pz() { curl -sf "http://127.0.0.1:$pzport/search.pz2?$1"; }
session=$(pz "command=init" | grep -oP '<session>\K[^<]+')

now() { date +%s.%N; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| round | gateway: merged answer | its records (total) | pazpar2: healthy in | pazpar2: show | its merged records | load |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$rounds"); do
  q="alma.title=\"history\" not alma.title=\"zz$r$RANDOM\""
  gwout=$(curl -s -o "$tmp/gw.json" -w '%{time_total}' -G "$base/v1/search" --data-urlencode "query=$q" --data-urlencode "targets=four" --data-urlencode "limit=20")
  gwtotal=$(grep -oP '"total":\K\d+' "$tmp/gw.json" | head -1)
  t0=$(now)
  pz "command=search&session=$session&query=ti%3Dhistory%20not%20ti%3Dzz$r$RANDOM" >/dev/null
  healthy=""
  while :; do
    st=$(pz "command=stat&session=$session")
    active=$(grep -oP '<activeclients>\K\d+' <<<"$st")
    if [ -z "$healthy" ] && [ "$active" -le 1 ]; then healthy=$(echo "$(now) - $t0" | bc); fi
    if [ "$active" -eq 0 ]; then break; fi
    sleep 0.01
  done
  shown=$(pz "command=show&session=$session&start=0&num=20&block=1")
  t=$(echo "$(now) - $t0" | bc)
  merged=$(grep -oP '<merged>\K\d+' <<<"$shown")
  echo "| $r | ${gwout}s | $gwtotal | ${healthy}s | ${t}s | $merged | $(cut -d' ' -f1 /proc/loadavg) |"
done
echo
echo "gateway: federation deadline $deadline; pazpar2: z3950_operation timeout ${pztimeout}s; Alma latency $latency."
pz "command=bytarget&session=$session" | grep -oP '<(name|hits|state|diagnostic)>[^<]*' | paste - - - - | sed 's/<//g' || true
