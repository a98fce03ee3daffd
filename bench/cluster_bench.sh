#!/usr/bin/env bash
# Three cluster members on this machine (each its own process and store,
# sync=full): bookings of one company sent to its owner (local), then the
# same load sent to another member, which forwards every request to the
# owner and its answer back (forwarded); local and forwarded runs
# alternate --rounds times and each figure is the median. The anchor,
# measured in the same run: raw CAF request/response between two
# processes over the middleman on 127.0.0.1 (bench/caf_rr.cpp) with as
# many requests in flight as wrk has connections, each about the size of
# a forwarded booking.
#
# Usage: bench/cluster_bench.sh [--quick] [--seconds S] [--connections C]
#          [--staff N] [--rounds R] [--caf-rr PATH] [--binary PATH | PATH]
# Needs wrk, curl and python3 (scripts/setup.sh installs them) and a built
# daemon (default build/app/switchboard) and caf_rr (build/bench/caf_rr).
# The last line is "RESULT cluster_bench local_book_rps=...
# forwarded_book_rps=... forward_p99_ms=... caf_remote_rr_per_s=...".
# Timing never fails the run; a member that does not start or join, or a
# booking that is not answered 201, does.
set -euo pipefail

bench=cluster_bench
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
seconds=10
conns=32
staff=64
rounds=3
caf_rr="$root/build/bench/caf_rr"
usage_end='^#          \[--staff'

quick_defaults=(seconds=2 staff=8 rounds=1)
declare -A options=([--seconds]=seconds [--connections]=conns
  [--staff]=staff [--rounds]=rounds [--caf-rr]=caf_rr)
usage_on_error=1
read_options "$@"
need_tools wrk curl python3
need_daemon
[ -x "$caf_rr" ] || die "no caf_rr binary at $caf_rr (build the caf_rr target)"

top=$(mktemp -d /tmp/cluster_bench.XXXXXX)
tmp=$top
names=(n1 n2 n3)
pids=()
http_ports=()
cleanup() {
  local rc=$?
  local i
  for i in "${!pids[@]}"; do
    daemon_pid=${pids[$i]}
    stop_daemon || true
  done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for i in "${!names[@]}"; do
      tmp=$top/${names[$i]}
      echo "--- ${names[$i]}" >&2
      show_daemon_log
    done
  fi
  rm -rf "$top"
  exit "$rc"
}
on_exit cleanup

# Three free TCP ports for the members' cluster (CAF middleman) ports.
mapfile -t cports < <(free_ports 3)
peers=""
for i in 0 1 2; do
  peers+="${peers:+,}${names[$i]}@127.0.0.1:${cports[$i]}"
done
secret=cluster-bench-secret-0123456789abcdef
for i in 0 1 2; do
  tmp=$top/${names[$i]}
  mkdir -p "$tmp"
  start_daemon --set "store.path=$tmp/data" \
    --set "cluster.node=${names[$i]}" --set "cluster.peers=$peers" \
    --set "cluster.secret=$secret" --set queues.max_lag_ms=0 # as http_bench: no backpressure
  pids+=("$daemon_pid")
  http_ports+=("$port")
done
tmp=$top
n1_url="http://127.0.0.1:${http_ports[0]}"
n2_url="http://127.0.0.1:${http_ports[1]}"

admin=$(add_tenant "$top/n1/data" ops --admin)
[ -n "$admin" ] || die "switchboard tenant add printed no token: $(cat "$top/tenant.log")"

# GET /api/admin/cluster of member $1 (a URL) as the admin.
cluster_status() {
  curl -sS "$1/api/admin/cluster" -H "Authorization: Bearer $admin" || true
}
# Waits until member $1 (a URL) sees every member up.
wait_up() { # url
  local _
  for _ in $(seq 300); do
    if cluster_status "$1" | python3 -c '
import json, sys
try:
    members = json.load(sys.stdin).get("members", [])
except ValueError:
    sys.exit(1)
sys.exit(0 if members and all(m["up"] for m in members) else 1)
'; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
# The member that member $1 (a URL) says owns company $2, once it knows it.
owner_of() { # url company
  local _ owner
  for _ in $(seq 100); do
    owner=$(cluster_status "$1" | python3 -c '
import json, sys
try:
    members = json.load(sys.stdin).get("members", [])
except ValueError:
    members = []
print(next((m["name"] for m in members if sys.argv[1] in m["companies"]), ""))
' "$2")
    if [ -n "$owner" ]; then
      echo "$owner"
      return 0
    fi
    sleep 0.1
  done
}
for u in "$n1_url" "$n2_url" "http://127.0.0.1:${http_ports[2]}"; do
  wait_up "$u" || die "member $u does not see every member up: $(cluster_status "$u")"
done

# A company that n1 owns: companies are added until n1 owns one.
company=""
token=""
for k in $(seq 0 63); do
  token=$(add_tenant "$top/n1/data" "co$k")
  [ -n "$token" ] || die "switchboard tenant add printed no token: $(cat "$top/tenant.log")"
  if [ "$(owner_of "$n1_url" "co$k")" = n1 ]; then
    company=co$k
    break
  fi
done
[ -n "$company" ] || die "n1 owns none of 64 companies: $(cluster_status "$n1_url")"
# The token is honoured by n2 once the tenants reached it.
for _ in $(seq 100); do
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$n2_url/api/company" \
    -H "Authorization: Bearer $token")
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || die "n2 does not honour $company's token (GET /api/company: $code)"

url=$n1_url
seed_company "$token"

export HTTP_BENCH_DIR="$root/bench/http_bench" HTTP_BENCH_THREADS=$threads
base=$((($(date +%s) / 86400 + 2) * 86400))
offset=0
book_run() { # url out
  wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency \
    -s "$root/bench/http_bench/book.lua" "$1" \
    -- "$token" "$base" "$staff" "$offset" >"$2"
  local errors sockets
  errors=$(field status_errors "$2")
  sockets=$(field socket_errors "$2")
  [ "${errors:-1}" = 0 ] || die "bookings at $1 answered errors: $(cat "$2")"
  [ "${sockets:-1}" = 0 ] || echo "cluster_bench: $sockets socket errors at $1" >&2
  offset=$(sed -n 's/^WRK next_offset=//p' "$2" | tail -n1)
}
median() {
  sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo "cluster_bench: 3 members (sync=full), company $company owned by n1; wrk -t$threads -c$conns, ${seconds} s per run, $rounds round(s), $(nproc) cores"
for ((r = 1; r <= rounds; r++)); do
  book_run "$n1_url" "$top/local$r.txt"
  book_run "$n2_url" "$top/forwarded$r.txt"
  echo "  round $r: local $(field rps "$top/local$r.txt") req/s p99 $(ms "$(field p99_us "$top/local$r.txt")") ms;" \
    "forwarded (n2 -> n1) $(field rps "$top/forwarded$r.txt") req/s p99 $(ms "$(field p99_us "$top/forwarded$r.txt")") ms"
done
local_rps=$(for f in "$top"/local*.txt; do field rps "$f"; done | median)
local_p99=$(for f in "$top"/local*.txt; do field p99_us "$f"; done | median)
fwd_rps=$(for f in "$top"/forwarded*.txt; do field rps "$f"; done | median)
fwd_p99=$(for f in "$top"/forwarded*.txt; do field p99_us "$f"; done | median)
forwarded=$(cluster_status "$n2_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["forwarded"])')
echo "  n2 forwarded $forwarded requests in all"

# The anchor: the members stay up (idle) as they would on one machine.
rr_seconds=$seconds
rr_line=$("$caf_rr" --seconds "$rr_seconds" --inflight "$conns" --bytes 600 | grep '^RESULT caf_rr')
rr_rps=$(sed -n 's/.* rr_per_s=\([^ ]*\).*/\1/p' <<<"$rr_line")
rr_p99=$(sed -n 's/.* p99_us=\([^ ]*\).*/\1/p' <<<"$rr_line")
echo "  raw CAF remote request/response: $rr_rps round trips/s, p99 $(ms "$rr_p99") ms ($conns in flight, 600 bytes)"
echo "RESULT cluster_bench local_book_rps=$local_rps forwarded_book_rps=$fwd_rps forward_p99_ms=$(ms "$fwd_p99") local_p99_ms=$(ms "$local_p99") caf_remote_rr_per_s=$rr_rps caf_remote_p99_ms=$(ms "$rr_p99")"
