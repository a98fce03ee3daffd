#!/usr/bin/env bash
# What one booking costs the daemon, with every queued job it causes done:
# CPU time by thread, bytes written and commits. `pace` books at a fixed
# --rate for --seconds (open loop, below saturation: the figure is the
# cost of the work, not how fast a burst goes), the queues drain, and the
# daemon's CPU time (user + system, from /proc per thread) and its
# written bytes (/proc/PID/io wchar: the store's page writes, the log)
# over that span are divided by the bookings made.
#
# Threads are grouped as the daemon names them: the store writer
# (sb-store-writer), its completion thread (sb-store-done), the HTTP
# threads (sb-http) and the actors (CAF's scheduler and the rest). A cost,
# not a speed: it moves less with this VM's speed than a rate does, so it
# is the figure to compare two builds or settings with; it has no anchor.
# Alternate the two a few times: a run still moves by about 5%.
#
# Usage: bench/cpu_per_booking.sh [--quick] [--rate R] [--seconds S]
#          [--staff N] [--pace PATH] [--binary PATH | PATH]
# CPU_BENCH_SET="--set k=v ..." adds options to the daemon's (to compare
# settings, e.g. --set store.commit_delay_us=2000). Needs curl, python3 and
# the pace binary (build/bench/pace). The last line is "RESULT
# cpu_per_booking total_us=... writer_us=... completions_us=... http_us=...
# actors_us=... written_kb=... commits_per_1k=... jobs_per_booking=...
# kernel_us=... writer_kernel_us=..." (the kernel's part: system time, e.g.
# the store's page writes and fsyncs).
set -euo pipefail

bench=cpu_per_booking
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
rate=2000 seconds=10 staff=64
usage_end='^#          \[--staff'

quick_defaults=(rate=300 seconds=3 staff=4)
need_tools curl python3
read_pace_options "$@"

tmp=$(mktemp -d /tmp/cpu_per_booking.XXXXXX)
daemon_pid=""
on_exit cleanup_daemon

# shellcheck disable=SC2086 # CPU_BENCH_SET is words
start_daemon --set "store.path=$tmp/data" --set store.sync=full \
  --set queues.max_lag_ms=0 ${CPU_BENCH_SET:-}
url="http://127.0.0.1:$port"
admin=$(add_tenant "$tmp/data" ops --admin)
token=$(add_tenant "$tmp/data" bench)
[ -n "$admin" ] && [ -n "$token" ] || die "switchboard tenant add printed no token"
seed_company "$token" "" '"email":"ada@example.com","prefers_email":true'
sleep 1

# One line per thread group: its name and its CPU ticks so far.
cpu_ticks() {
  local t name
  for t in /proc/"$daemon_pid"/task/*; do
    name=$(cat "$t/comm" 2>/dev/null) || continue
    case "$name" in
    sb-store-writer) name=writer ;;
    sb-store-done) name=completions ;;
    sb-http*) name=http ;;
    *) name=actors ;;
    esac
    # utime and stime are the 14th and 15th fields; the name (2nd) has no
    # spaces here.
    echo "$name $(awk '{ print $14 + $15, $15 }' "$t/stat" 2>/dev/null || echo 0 0)"
  done | awk '{ n[$1] += $2; s[$1] += $3 } END { for (k in n) print k, n[k], s[k] }' | sort
}
written() {
  awk '/^wchar:/ { print $2 }' /proc/"$daemon_pid"/io
}
commits() {
  curl -sS "$url/metrics" -H "Authorization: Bearer $admin" \
    | awk '/^switchboard_store_commits_total / { print $2 }'
}

jobs_before=$(jobs_made)
cpu_ticks >"$tmp/cpu.before"
written_before=$(written)
commits_before=$(commits)
base=$((($(date +%s) / 86400 + 2) * 86400))
out=$("$pace" --port "$port" --token "$token" --base "$base" \
  --staff "$staff" --rate "$rate" --seconds "$seconds" --prefix s 2>"$tmp/pace.err") \
  || die "pace failed: $(cat "$tmp/pace.err")"
echo "$out"
ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
[ "${ok:-0}" -gt 0 ] || die "no booking got a 201: $out"
wait_drained
cpu_ticks >"$tmp/cpu.after"
written_after=$(written)
commits_after=$(commits)
jobs=$(($(jobs_made) - jobs_before))

# Lines: group, ticks and kernel ticks before, then after.
join "$tmp/cpu.before" "$tmp/cpu.after" | awk -v ok="$ok" -v hz="$(getconf CLK_TCK)" \
  -v bytes="$((written_after - written_before))" \
  -v commits="$((commits_after - commits_before))" -v jobs="$jobs" '
  { us[$1] = ($4 - $2) * 1e6 / hz / ok; total += us[$1]
    sys[$1] = ($5 - $3) * 1e6 / hz / ok; kernel += sys[$1] }
  END {
    for (k in us)
      printf "  %-8s %8.1f us of CPU per booking (%.1f of it in the kernel)\n",
        k, us[k], sys[k]
    printf "RESULT cpu_per_booking total_us=%.1f writer_us=%.1f completions_us=%.1f " \
      "http_us=%.1f actors_us=%.1f written_kb=%.1f commits_per_1k=%.1f " \
      "jobs_per_booking=%.2f kernel_us=%.1f writer_kernel_us=%.1f\n", total,
      us["writer"], us["completions"], us["http"], us["actors"],
      bytes / 1024 / ok, commits * 1000 / ok, jobs / ok, kernel, sys["writer"]
  }'
