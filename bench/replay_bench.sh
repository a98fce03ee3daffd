#!/usr/bin/env bash
# Bookings while `switchboard replay analytics` rebuilds its counters over
# a long log. The log is imported first (--events appointment.created
# events of one company, of a staff member the bookings do not use), then
# the daemon runs on it (store.sync=full, as shipped) and:
#   1. the replay runs alone: its time and how long its switch held
#      LMDB's write lock;
#   2. one company books at a steady modest rate (--connections, each
#      pausing 20 ms before each request), alone: the idle p99;
#   3. the same bookings while the replay runs again: the p99 the replay
#      costs them.
# The last line is "RESULT replay_bench events=... import_s=...
# replay_ms=... switch_ms=... book_p99_ms=... book_p99_idle_ms=...
# book_max_ms=... book_max_idle_ms=... book_rps=... book_rps_idle=...
# book_timeouts=...": a replay that stalls the writer shows in the rate
# and in wrk's timeouts (requests over 2 s, left out of its latencies)
# more than in the p99: a few requests wait, all at once.
# Figures are printed, never checked.
#
# Usage: bench/replay_bench.sh [--quick] [--events N] [--connections C]
#          [--binary PATH | PATH]
# Needs wrk, curl and python3, and a built daemon (default
# build/app/switchboard). --quick: 20,000 events (the test suite's run).
set -euo pipefail

bench=replay_bench
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
events=1000000
conns=8
staff=4
usage_end='^#          \[--binary'

# --quick where it stands: an --events before it is overridden.
declare -A options=([--quick]=events=20000 [--events]=events
  [--connections]=conns)
read_options "$@"
need_tools wrk curl python3
need_daemon

tmp=$(mktemp -d /tmp/replay_bench.XXXXXX)
daemon_pid=""
on_exit cleanup_daemon

data="$tmp/data"
# Run from the temp dir so that no ./config.ini applies: embedded defaults.
sb() { (cd "$tmp" && "$bin" "$@" --set "store.path=$data"); }

token=$(add_tenant "$data" bench --create)
[ -n "$token" ] || die "switchboard tenant add printed no token: $(cat "$tmp/tenant.log")"

# The history: a customer, a service, a staff member and their
# appointments, one every 10 minutes from 2000 on (the seed's table shape).
python3 - "$events" >"$tmp/history.jsonl" <<'EOF'
import json, sys, datetime
n = int(sys.argv[1])
def row(kind, id, cls, data, at):
    return json.dumps({"aggregate_type": kind, "aggregate_id": id,
                       "event_type": cls, "event_data": data,
                       "metadata": {}, "version": 1, "occurred_at": at})
out = sys.stdout
out.write(row("customer", "hcu", "App\\Events\\CustomerCreated",
              {"customer": {"id": "hcu", "company_id": "bench",
                            "name": "Ida"}, "source": "import"},
              "2000-01-01 00:00:00") + "\n")
out.write(row("service", "hsv", "App\\Events\\ServiceUpdated",
              {"service": {"id": "hsv", "company_id": "bench", "name": "Cut",
                           "price_cents": 1500, "duration_minutes": 5}},
              "2000-01-01 00:00:00") + "\n")
out.write(row("staff", "hst", "App\\Events\\StaffUpdated",
              {"staff": {"id": "hst", "company_id": "bench", "name": "Stan",
                         "active": True}},
              "2000-01-01 00:00:00") + "\n")
t0 = datetime.datetime(2000, 1, 1, 8, 0, 0)
fmt = "%Y-%m-%dT%H:%M:%SZ"
for i in range(n):
    start = t0 + datetime.timedelta(minutes=10 * i)
    end = start + datetime.timedelta(minutes=5)
    appt = {"id": "h%d" % i, "company_id": "bench", "branch_id": "",
            "service_id": "hsv", "staff_id": "hst", "customer_id": "hcu",
            "start_time": start.strftime(fmt), "end_time": end.strftime(fmt),
            "status": "scheduled", "price_cents": 1500, "notes": ""}
    out.write(row("appointment", appt["id"], "App\\Events\\AppointmentCreated",
                  {"appointment": appt, "source": "import"},
                  start.strftime("%Y-%m-%d %H:%M:%S")) + "\n")
EOF
started=$(date +%s.%N)
sb import "$tmp/history.jsonl" --format laravel-jsonl >"$tmp/import.log" 2>&1 \
  || die "import failed: $(tail -n 5 "$tmp/import.log")"
import_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "imported $events appointment(s) in $import_s s"

start_daemon --set "store.path=$data"
url="http://127.0.0.1:$port"

seed_company "$token"
base=$((($(date +%s) / 86400 + 2) * 86400))

replay() { # out → the replay's output
  sb replay analytics >"$1" 2>&1 || die "replay failed: $(tail -n 5 "$1")"
}
export HTTP_BENCH_DIR="$root/bench/http_bench" HTTP_BENCH_THREADS=$threads
offset=0
book() { # seconds out
  HTTP_BENCH_DELAY_MS=20 wrk -t"$threads" -c"$conns" -d"$1s" --latency \
    -s "$root/bench/http_bench/book.lua" "$url" \
    -- "$token" "$base" "$staff" "$offset" >"$2"
  local errors
  errors=$(field status_errors "$2")
  [ "${errors:-1}" = 0 ] || die "bookings answered errors: $(cat "$2")"
  offset=$(sed -n 's/^WRK next_offset=//p' "$2" | tail -n1)
}

started=$(date +%s%N)
replay "$tmp/replay1.txt"
replay_ms=$((($(date +%s%N) - started) / 1000000))
switch_ms=$(sed -n 's/.*held the write lock \([0-9]*\) ms.*/\1/p' "$tmp/replay1.txt" | tail -n1)
echo "replay alone: $replay_ms ms; $(tail -n1 "$tmp/replay1.txt")"
# The bookings run a little longer than the replay took alone.
seconds=$((replay_ms / 1000 + 2))
book "$seconds" "$tmp/idle.txt"
replay "$tmp/replay2.txt" &
replay_pid=$!
book "$seconds" "$tmp/busy.txt"
wait "$replay_pid" || die "the replay under load failed"
echo "replay under bookings: $(tail -n1 "$tmp/replay2.txt")"

idle_p99=$(field p99_us "$tmp/idle.txt")
busy_p99=$(field p99_us "$tmp/busy.txt")
echo "bookings alone:        $(ms "$idle_p99") ms p99, $(field rps "$tmp/idle.txt") req/s"
echo "bookings during replay: $(ms "$busy_p99") ms p99, $(field rps "$tmp/busy.txt") req/s"
echo "RESULT replay_bench events=$events import_s=$import_s replay_ms=$replay_ms" \
  "switch_ms=${switch_ms:-0} book_p99_ms=$(ms "$busy_p99")" \
  "book_p99_idle_ms=$(ms "$idle_p99")" \
  "book_max_ms=$(ms "$(field max_us "$tmp/busy.txt")")" \
  "book_max_idle_ms=$(ms "$(field max_us "$tmp/idle.txt")")" \
  "book_rps=$(field rps "$tmp/busy.txt") book_rps_idle=$(field rps "$tmp/idle.txt")" \
  "book_timeouts=$(field socket_errors "$tmp/busy.txt")"
