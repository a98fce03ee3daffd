#!/usr/bin/env bash
# One company's bookings while another floods the daemon: the victim books
# at a steady modest rate (--victim-connections, each pausing 20 ms before
# each request) alone, then again while the attacker, another company,
# asks for availability of staff ids that exist nowhere and lists its
# appointments as fast as --attack-connections allow. The victim's p99
# should stay within 2x its idle p99 (printed, never checked). The attacker
# also books (each booking enqueues jobs for the queued listeners).
#
# The daemon runs with [limits] as an operator would set them, the same
# for every company (--rps, --commands, --rows; 0 for no limit): the
# victim's steady rate is well under them, and the line "limits: ..." says
# what they were. --rows 0 shows the flood without the rows limit.
# Each phase runs --seconds (30): a p99 of 10 s swung by a third from run
# to run on this machine (its idle p99 from 2.1 to 4.1 ms).
#
# Usage: bench/noisy_neighbor.sh [--quick] [--seconds S] [--staff N]
#          [--victim-connections C] [--attack-connections C]
#          [--rps N] [--commands N] [--rows N] [--binary PATH | PATH]
# Needs wrk and curl and a built daemon (default build/app/switchboard).
# The store runs with sync=none: the figure is about CPU and queues, not
# the disk. The last line is "RESULT noisy_neighbor victim_p99_ms=...
# victim_p99_idle_ms=... attacker_rps=...".
set -euo pipefail

bench=noisy_neighbor
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
seconds=30
staff=16
victim_conns=8
attack_conns=32
rps=1000
commands=32
rows=10000
usage_end='^#          \[--rps'

quick_defaults=(seconds=2 staff=4 attack_conns=8)
declare -A options=([--seconds]=seconds [--staff]=staff
  [--victim-connections]=victim_conns [--attack-connections]=attack_conns
  [--rps]=rps [--commands]=commands [--rows]=rows)
read_options "$@"
need_tools wrk curl
need_daemon

tmp=$(mktemp -d /tmp/noisy_neighbor.XXXXXX)
daemon_pid=""
attack_pid=""
cleanup() {
  local rc=$?
  if [ -n "$attack_pid" ] && kill -0 "$attack_pid" 2>/dev/null; then
    kill "$attack_pid" 2>/dev/null || true
  fi
  cleanup_daemon "$rc"
}
on_exit cleanup

# The embedded defaults (start_daemon runs it from the temp dir), with
# the limits.
start_daemon --set "store.path=$tmp/data" --set store.sync=none \
  --set "limits.requests_per_second=$rps" \
  --set "limits.commands_in_flight=$commands" \
  --set "limits.rows_per_second=$rows"
url="http://127.0.0.1:$port"

victim=$(add_tenant "$tmp/data" victim)
attacker=$(add_tenant "$tmp/data" attacker)
[ -n "$victim" ] && [ -n "$attacker" ] \
  || die "switchboard tenant add printed no token: $(cat "$tmp/tenant.log")"

# Ids are unique across companies: the attacker's start with "a".
seed_company "$victim"
seed_company "$attacker" a
base=$((($(date +%s) / 86400 + 2) * 86400))
date=$(date -u -d "@$base" +%Y-%m-%d)
# The attacker's list has something to fold.
for ((i = 0; i < 50; i++)); do
  start=$(date -u -d "@$((base + i * 300))" +%Y-%m-%dT%H:%M:%SZ)
  post_as "$attacker" /api/appointments "{\"customer_id\":\"acu1\",\"service_id\":\"asv1\",\"staff_id\":\"ast$((i % staff))\",\"start_time\":\"$start\"}"
done

export HTTP_BENCH_DIR="$root/bench/http_bench" HTTP_BENCH_THREADS=$threads
victim_run() { # offset out
  HTTP_BENCH_DELAY_MS=20 wrk -t"$threads" -c"$victim_conns" -d"${seconds}s" \
    --latency -s "$root/bench/http_bench/book.lua" "$url" \
    -- "$victim" "$base" "$staff" "$1" >"$2"
  local errors
  errors=$(field status_errors "$2")
  [ "${errors:-1}" = 0 ] || die "victim bookings answered errors: $(cat "$2")"
}

# CPU ticks of the daemon's threads, summed by thread name: "name ticks".
thread_ticks() {
  for t in /proc/"$daemon_pid"/task/*; do
    local comm stat
    comm=$(tr ' ' _ <"$t/comm" 2>/dev/null) || continue
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    # After the name: state is field 3, utime 14 and stime 15.
    echo "$comm $(echo "$stat" | awk '{ print $12 + $13 }')"
  done | awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' | sort
}

victim_run 0 "$tmp/idle.txt"
offset=$(sed -n 's/^WRK next_offset=//p' "$tmp/idle.txt" | tail -n1)
# The attacker's bookings start a week later, clear of the list's 50.
wrk -t"$threads" -c"$attack_conns" -d"$((seconds + 2))s" \
  -s "$here/noisy_neighbor/attack.lua" "$url" -- "$attacker" "$date" \
  "$((base + 7 * 86400))" "$staff" >"$tmp/attack.txt" &
attack_pid=$!
sleep 1
thread_ticks >"$tmp/ticks0.txt"
victim_run "${offset:-100000}" "$tmp/busy.txt"
thread_ticks >"$tmp/ticks1.txt"
wait "$attack_pid" || die "the attacker's wrk failed: $(cat "$tmp/attack.txt")"
attack_pid=""

echo "daemon CPU by thread while the victim booked under the flood (s):"
join "$tmp/ticks0.txt" "$tmp/ticks1.txt" \
  | awk -v hz="$(getconf CLK_TCK)" '{ printf "  %-16s %6.2f\n", $1, ($3 - $2) / hz }' \
  | sort -k2 -rn
idle_p99=$(field p99_us "$tmp/idle.txt")
busy_p99=$(field p99_us "$tmp/busy.txt")
attack_rps=$(field rps "$tmp/attack.txt")
echo "victim idle:  $(ms "$idle_p99") ms p99, $(field rps "$tmp/idle.txt") req/s"
echo "victim busy:  $(ms "$busy_p99") ms p99, $(field rps "$tmp/busy.txt") req/s"
echo "attacker:     $attack_rps req/s (unknown staff availability, lists, bookings), $(field status_errors "$tmp/attack.txt") of $(field requests "$tmp/attack.txt") answered 4xx/5xx"
echo "limits: requests_per_second=$rps commands_in_flight=$commands rows_per_second=$rows per company (0: none)"
echo "RESULT noisy_neighbor victim_p99_ms=$(ms "$busy_p99") victim_p99_idle_ms=$(ms "$idle_p99") attacker_rps=$attack_rps"
