#!/usr/bin/env bash
# HTTP benchmark of the real daemon with wrk, beside nginx measured in the
# same run as the ceiling of the loopback HTTP path on this machine.
#
#   1. book:   POST /api/appointments, each request a distinct 5-minute slot
#              spread over --staff staff members (calendar actors), durable
#              (store.sync=full, the default) with the sync listeners; with
#              --book-connections in flight (128), --rounds times (the
#              median is the figure; the queues drain between rounds), and
#              once with --connections (64) for comparison. Bookings in flight share group
#              commits: measured here, a commit carries about 4 bookings
#              at 64 and 6 at 128, and the daemon's CPU per booking drops
#              from about 72 to 59 us (the writer's from 29 to 20 us).
#   1b. paused: the same bookings at --book-connections with the queued
#              listeners paused (POST /api/admin/queues/pause, as Horizon's
#              horizon:pause): the queues lease nothing and the catch-up
#              readers apply nothing meanwhile, so the run measures the
#              booking path alone and leaves the seed's work behind, as
#              the burst did when this bench first measured it (its jobs
#              drained after the run). Then they continue:
#              book_paused_rps, and paused_drain_per_s, the listeners'
#              runs per second on that backlog (as seed_jobs_per_s).
#   2. paced:  booking latency at ~10k req/s. Debian's wrk 4 has no
#              fixed-rate mode (that is wrk2), so each of 150 connections
#              waits 10 ms before each request (wrk's delay()): about 10k
#              req/s at 4-5 ms a booking, closed loop; the rate reached is
#              printed beside p99.
#   2b. sustained: the highest booking rate the daemon holds with every
#              queued job done: `pace` (bench/pace.cpp) sends bookings at a
#              fixed rate (open loop) for --sustain-seconds (60; 3 with
#              --quick); a rate holds when every booking got its 201, the
#              201s came at 95% of that rate or more (counted until the
#              last answer, not until the schedule ended), the bookings'
#              p99 latency (from when each was due), the p99 wait of the
#              queued jobs (due -> leased, from the daemon's own histogram
#              in /metrics) and the catch-up readers' lag (how long the
#              oldest event one has not applied waited past due,
#              switchboard_catch_up_lag_seconds read once a second, the
#              largest) stayed under 1 s, and at the end no more than a
#              second's work was waiting; job_wait_p99_ms is the larger of
#              the jobs' p99 and the readers' lag. The probes start at
#              the burst rate and rise by a quarter while a rate holds,
#              then bisect (--sustain-probes steps, 5; 2 with --quick); a
#              probe whose bookings are still unanswered a minute after
#              its schedule ended falls behind. That gives
#              sustained_book_rps, with the job wait p99, the jobs per
#              booking (made, the reminders among them) and the runs per
#              booking (the seed listeners' work: jobs run, and events
#              applied by the catch-up listeners' readers, each one
#              listener's handling of one event) at that rate;
#              seed_jobs_per_s is the rate of those runs while the c=128
#              run's backlog drained, over the polls that began and
#              ended with at least 1,000 waiting (when the run left no
#              such backlog, as the
#              listeners now keep up at full booking speed: the runs per
#              second over the run and its drain, which the
#              notification's 5 s delay lengthens). The customer takes
#              e-mail, so each booking's confirmation is a message.
#   3. get:    GET /api/appointments/{id}.
#   4. nginx:  `return 200 "ok";` on 127.0.0.1, one worker per core. GET
#              and nginx alternate --rounds times (3; 1 with --quick), and
#              each figure is the median of its rounds (this VM's speed
#              drifts by more than 15 % from one minute to the next).
#   6. metrics: GET /metrics (admin) timed after the fill, the median of
#              5 (`metrics_ms`, the scrape's cost at that many bookings).
#              With --scrape, a scraper also reads /metrics once a second
#              during every run, to show what scraping costs the requests.
#   5. rss:    the daemon's VmRSS after --bookings bookings in all (more
#              bookings are made until that many got a 201).
#   7. bullmq: the anchor of the queue figures, BullMQ 5 on Redis
#              (appendfsync always) in the same run (bench/bullmq/
#              anchor.mjs): producers add 6 jobs at a time as fast as
#              Redis takes them while one Worker runs no-op jobs;
#              bullmq_jobs_per_s is what it processed meanwhile,
#              bullmq_drain_per_s its rate on the backlog left. Beside
#              them: sustained_jobs_per_s (sustained_book_rps times
#              runs_per_booking, all of it done) and seed_jobs_per_s.
#              Skipped with --quick. scripts/setup.sh installs
#              redis-server; npm fetches bullmq into the temp dir.
#
# Usage: bench/http_bench.sh [--quick] [--seconds S] [--bookings N]
#          [--staff N] [--connections C] [--book-connections C] [--rounds R]
#          [--scrape] [--sustain-seconds S] [--sustain-probes N]
#          [--pace PATH] [--binary PATH | PATH]
# HTTP_BENCH_SET="--set k=v ..." adds options to the daemon's (to compare
# settings, e.g. queue concurrency, in otherwise equal runs).
# Needs wrk and nginx (scripts/setup.sh installs them) and a built daemon
# (default build/app/switchboard). Installs and builds nothing. The last
# line is "RESULT http_bench ...". Timing never fails the run; a daemon
# that does not start, or answers with errors, does.
set -euo pipefail

bench=http_bench
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
seconds=10
bookings=200000
staff=128
conns=64
book_conns=128
rounds=3
# Paced run: connections * 1000 / (10 ms + latency) is about 10k req/s at
# the ~4-5 ms a booking takes here.
paced_conns=150
pace="$root/build/bench/pace"
sustain_seconds=60
sustain_probes=5
quick=0
scrape=0
usage_end='^# line'

# --quick sets CI-sized defaults; options given with it still apply.
quick_defaults=(quick=1 seconds=3 bookings=5000 staff=16 rounds=1
  sustain_seconds=3 sustain_probes=2)
declare -A options=([--seconds]=seconds [--bookings]=bookings
  [--staff]=staff [--connections]=conns [--book-connections]=book_conns
  [--rounds]=rounds [--scrape]=scrape=1 [--sustain-seconds]=sustain_seconds
  [--sustain-probes]=sustain_probes [--pace]=pace)
usage_on_error=1
read_options "$@"
# nginx may be in /usr/sbin, off a user's PATH.
PATH="$PATH:/usr/sbin" need_tools wrk nginx curl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
need_daemon
[ -x "$pace" ] || die "no pace binary at $pace (build the pace target)"

tmp=$(mktemp -d /tmp/http_bench.XXXXXX)
daemon_pid=""
nginx_pid=""
scraper_pid=""
cleanup() {
  local rc=$?
  if [ -n "$scraper_pid" ]; then
    kill "$scraper_pid" 2>/dev/null || true
  fi
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  if ! stop_daemon; then
    echo "http_bench: daemon did not stop on SIGTERM; killing it" >&2
    rc=1
  fi
  cleanup_daemon "$rc"
}
on_exit cleanup

# --- the daemon -------------------------------------------------------------
# The embedded defaults (start_daemon runs it from the temp dir), but for
# backpressure: the burst builds a backlog of jobs on purpose (it measures
# the booking path alone), which queues.max_lag_ms would refuse.
start_daemon --set "store.path=$tmp/data" --set store.sync=full \
  --set queues.max_lag_ms=0 ${HTTP_BENCH_SET:-}
url="http://127.0.0.1:$port"

token=$(add_tenant "$tmp/data" bench)
[ -n "$token" ] \
  || die "switchboard tenant add printed no token: $(cat "$tmp/tenant.log")"

admin=$(add_tenant "$tmp/data" ops --admin)
[ -n "$admin" ] \
  || die "switchboard tenant add --admin printed no token: $(cat "$tmp/tenant.log")"

seed_company "$token" "" '"email":"ada@example.com","prefers_email":true'
# Slots start at midnight UTC the day after tomorrow; one known booking
# before them is what the GET phase reads.
base=$((($(date +%s) / 86400 + 2) * 86400))
probe_time=$(date -u -d "@$((base - 3600))" +%Y-%m-%dT%H:%M:%SZ)
post_as "$token" /api/appointments "{\"id\":\"probe\",\"customer_id\":\"cu1\",\"service_id\":\"sv1\",\"staff_id\":\"st0\",\"start_time\":\"$probe_time\"}"

# A Prometheus-like scraper: /metrics once a second for the whole run.
if [ "$scrape" = 1 ]; then
  (while sleep 1; do
    curl -sS -o /dev/null "$url/metrics" -H "Authorization: Bearer $admin" \
      || true
  done) &
  scraper_pid=$!
  echo "http_bench: scraping /metrics once a second during the runs"
fi

# --- helpers ----------------------------------------------------------------
export HTTP_BENCH_DIR="$here/http_bench" HTTP_BENCH_THREADS=$threads
hz=$(getconf CLK_TCK)


# CPU ticks of each of the daemon's threads: "tid name ticks" lines.
cpu_snapshot() {
  local t stat
  for t in /proc/"$daemon_pid"/task/*; do
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    local name=${stat#*(}
    name=${name%)*}
    local rest=${stat##*) }
    # Fields after the name: state is 3rd overall; utime 14th, stime 15th.
    set -- $rest
    echo "${t##*/} ${name// /_} $((${12} + ${13}))"
  done
}

# Prints CPU seconds per thread name between two snapshots, and % of wall.
cpu_report() { # before after wall_seconds
  awk -v hz="$hz" -v wall="$3" '
    FNR == NR { before[$1] = $3; next }
    { used[$2] += $3 - before[$1]; n[$2]++ }
    END {
      for (k in used) total += used[k]
      printf "  daemon CPU %.2f s of %.1f s wall (%.0f%% of one core):", \
        total / hz, wall, 100 * total / hz / wall
      for (k in used) if (used[k] > 0)
        printf " %s(x%d)=%.2fs", k, n[k], used[k] / hz
      printf "\n"
    }' "$1" "$2"
}

wrk_run() { # name wrk-args... → output in $tmp/<name>.out
  local name=$1
  shift
  wrk -t"$threads" --timeout 10s "$@" >"$tmp/$name.out" 2>&1 \
    || die "wrk ($name) failed: $(cat "$tmp/$name.out")"
  grep -q '^WRK requests=' "$tmp/$name.out" \
    || die "wrk ($name) printed no figures: $(cat "$tmp/$name.out")"
}

booked=1 # the probe
offset=0
book_run() { # name connections seconds → updates booked, offset
  local name=$1 c=$2 d=$3
  wrk_run "$name" -c"$c" -d"${d}s" -s "$here/http_bench/book.lua" \
    "$url" -- "$token" "$base" "$staff" "$offset"
  local req bad
  req=$(field requests "$tmp/$name.out")
  bad=$(field status_errors "$tmp/$name.out")
  offset=$(sed -n 's/^WRK next_offset=//p' "$tmp/$name.out")
  booked=$((booked + req - bad))
  [ "$req" -gt 0 ] || die "no booking answered in $name"
  # Every slot is distinct: anything but 201 means something is broken.
  [ "$bad" -eq 0 ] || die "$bad of $req bookings in $name did not get a 201"
}

# The seed's listeners' work done so far: jobs run (switchboard_listener_
# runs_total{kind="queued"}) and events applied by the catch-up listeners'
# readers (kind="catch_up"), each one listener's handling of one event.
listener_runs() {
  curl -sS "$url/metrics" -H "Authorization: Bearer $admin" \
    | awk '/^switchboard_listener_runs_total\{.*kind="(queued|catch_up)"/ { n += $2 }
           END { printf "%.0f\n", n }'
}

# Work not yet done (the backlog: jobs ready, leased or in flight, events
# the readers have not applied) and the listeners' runs so far:
# "backlog runs".
backlog() {
  echo "$(queue_sums "$backlog_fields") $(listener_runs)"
}

# Waits (at most drain_max seconds; never fails) until the queues have
# caught up with the bookings, so that the next run does not share the
# CPU and the writer with their jobs. drain_rate: the jobs' rate over the
# polls that began and ended with at least busy_backlog jobs waiting (the
# queues' own pace, not the pace at which delayed jobs fall due: the
# seed's notification waits 5 s, its $delay, nor the size of a backlog
# that ran out within a poll); 0 when no poll did.
drain_max=180
[ "$quick" -eq 1 ] && drain_max=2
busy_backlog=1000
drain() {
  local t0 n p0 p deadline ta pa nb busy_t=0 busy_p=0
  t0=$(date +%s.%N)
  deadline=$(($(date +%s) + drain_max))
  read -r n p0 < <(backlog)
  p=$p0
  while [ "$n" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    ta=$(date +%s.%N)
    pa=$p
    nb=$n
    sleep 0.2
    read -r n p < <(backlog)
    # Busy from start to end: a poll whose backlog ran out measures the
    # backlog, not the queues' pace.
    if [ "$nb" -ge "$busy_backlog" ] && [ "$n" -ge "$busy_backlog" ]; then
      busy_t=$(awk -v s="$busy_t" -v a="$ta" -v b="$(date +%s.%N)" \
        'BEGIN { printf "%.6f", s + b - a }')
      busy_p=$((busy_p + p - pa))
    fi
  done
  drain_rate=$(awk -v t="$busy_t" -v p="$busy_p" \
    'BEGIN { printf "%.0f", (t > 0 ? p / t : 0) }')
  drain_processed=$p
  awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$n" -v p="$((p - p0))" \
    -v r="$drain_rate" \
    'BEGIN { printf "  queues: %d jobs done in %.1f s after the run (%.0f/s; %d/s while busy), %d left\n", p, b - a, p / (b - a), r, n }'
}

rss_mb() {
  awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' /proc/"$daemon_pid"/status
}

summary() { # name label
  local f="$tmp/$1.out"
  printf '%-34s %8s req/s  p50 %6.2f ms  p99 %7.2f ms  (%s requests, %s socket errors)\n' \
    "$2" "$(field rps "$f")" \
    "$(awk -v u="$(field p50_us "$f")" 'BEGIN { print u / 1000 }')" \
    "$(awk -v u="$(field p99_us "$f")" 'BEGIN { print u / 1000 }')" \
    "$(field requests "$f")" "$(field socket_errors "$f")"
}

# Copies the run of median rps among <name>1..<name>N to <name>.out.
pick_median() { # name rounds
  local r best
  best=$(for ((r = 1; r <= $2; r++)); do
    echo "$(field rps "$tmp/$1$r.out") $r"
  done | sort -n | awk -v n="$2" 'NR == int((n + 1) / 2) { print $2 }')
  cp "$tmp/$1$best.out" "$tmp/$1.out"
}
rounds_line() { # name rounds
  local r
  [ "$2" -gt 1 ] || return 0
  printf '  rounds:'
  for ((r = 1; r <= $2; r++)); do printf ' %s' "$(field rps "$tmp/$1$r.out")"; done
  printf ' req/s; the median above\n'
}

echo "http_bench: daemon $bin (pid $daemon_pid, sync=full) on $url;" \
  "$staff staff, wrk -t$threads -c$conns (bookings also -c$book_conns)," \
  "$seconds s per run, $(nproc) cores"
rss_start=$(rss_mb)

# --- 1. bookings, as fast as they go ----------------------------------------
book_run book64 "$conns" "$seconds"
summary book64 "POST /api/appointments (c=$conns)"
drain
for ((r = 1; r <= rounds; r++)); do
  if [ "$r" -eq 1 ]; then
    cpu_snapshot >"$tmp/cpu0"
    read -r _ jobs_p0 < <(backlog)
    jobs_t0=$(date +%s.%N)
  fi
  book_run "book$r" "$book_conns" "$seconds"
  [ "$r" -eq 1 ] && cpu_snapshot >"$tmp/cpu1"
  drain
  if [ "$r" -eq 1 ]; then
    seed_jobs_per_s=$drain_rate
    # No backlog was left to drain (a short run): the jobs' rate over the
    # run and the drain, which the bookings' rate may have bounded.
    [ "$drain_rate" -gt 0 ] || seed_jobs_per_s=$(awk -v a="$jobs_t0" \
      -v b="$(date +%s.%N)" -v p="$((drain_processed - jobs_p0))" \
      'BEGIN { printf "%.0f", p / (b - a) }')
  fi
done
pick_median book "$rounds"
summary book "POST /api/appointments (c=$book_conns)"
rounds_line book "$rounds"
cpu_report "$tmp/cpu0" "$tmp/cpu1" "$seconds"

# --- 1b. the booking path alone: the listeners paused ---------------------------
admin_post() { # path
  local code
  code=$(curl -sS -o "$tmp/reply" -w '%{http_code}' -X POST "$url$1" \
    -H "Authorization: Bearer $admin") || die "POST $1 failed"
  [ "$code" = 200 ] || die "POST $1 answered $code: $(cat "$tmp/reply")"
}
admin_post /api/admin/queues/pause
book_run bookpaused "$book_conns" "$seconds"
admin_post /api/admin/queues/continue
summary bookpaused "POST /api/appointments (c=$book_conns, paused)"
drain
paused_drain_per_s=$drain_rate

# --- 2. bookings at ~10k req/s -------------------------------------------------
HTTP_BENCH_DELAY_MS=10 book_run paced "$paced_conns" "$seconds"
summary paced "POST paced (c=$paced_conns, 10 ms gaps)"
drain

# --- 2b. the sustained rate: fixed-rate bookings, every job done -----------
# Queue counters: "jobs_made backlog" (jobs made so far: processed, failed
# and everything still queued, delayed included; backlog: ready, leased
# and in flight).
queue_totals() {
  queue_sums "$made_fields" "$backlog_fields"
}
# The p99 of the queued jobs' wait (due -> leased) between two /metrics
# texts, from the daemon's switchboard_queue_wait_seconds histogram summed
# over the queues: "p99_ms count" (the p99 is the upper bound of its
# bucket; the last finite bound when it lies in +Inf).
cat >"$tmp/wait_p99.py" <<'PY'
import re, sys
def buckets(path):
    out = {}
    pat = re.compile(r'^switchboard_queue_wait_seconds_bucket\{(.*)\} (\S+)$')
    for line in open(path):
        m = pat.match(line.strip())
        if not m:
            continue
        le = re.search(r'le="([^"]*)"', m.group(1)).group(1)
        b = float("inf") if le == "+Inf" else float(le)
        out[b] = out.get(b, 0.0) + float(m.group(2))
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
delta = sorted((le, b[le] - a.get(le, 0.0)) for le in b)
total = delta[-1][1] if delta else 0.0
p99 = 0.0
finite = [le for le, _ in delta if le != float("inf")]
for le, cum in delta:
    if total > 0 and cum >= 0.99 * total:
        p99 = le if le != float("inf") else (finite[-1] if finite else 0.0)
        break
print("%.1f %d" % (p99 * 1000, total))
PY
metrics_to() { # file
  curl -sS -o "$1" "$url/metrics" -H "Authorization: Bearer $admin" \
    || die "GET /metrics failed"
}
# Runs bookings at rate $1 for sustain_seconds; sets probe_ok, probe_wait,
# probe_jpb (jobs per booking) and prints one line.
probe() {
  local r=$1 made0 made1 back out ok bad got wait n p99 runs0 runs1 lag
  read -r made0 _ < <(queue_totals)
  runs0=$(listener_runs)
  metrics_to "$tmp/m0"
  # The readers' lag while the bookings run, read once a second: how long
  # the oldest event a catch-up listener has not applied waited past due.
  (
    while :; do
      curl -sS "$url/metrics" -H "Authorization: Bearer $admin" \
        | awk '/^switchboard_catch_up_lag_seconds\{/ { if ($2 > m) m = $2 }
               END { printf "%.0f\n", m * 1000 }'
      sleep 1
    done
  ) >"$tmp/lag.txt" 2>/dev/null &
  local sampler=$!
  out=$("$pace" --port "$port" --token "$token" --base "$base" \
    --staff "$staff" --rate "$r" --seconds "$sustain_seconds" \
    --offset "$offset" --prefix s 2>"$tmp/pace.err") \
    || { kill "$sampler" 2>/dev/null; die "pace failed: $(cat "$tmp/pace.err")"; }
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  lag=$(sort -n "$tmp/lag.txt" | tail -n 1)
  lag=${lag:-0}
  metrics_to "$tmp/m1"
  read -r made1 back < <(queue_totals)
  runs1=$(listener_runs)
  ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
  bad=$(sed -n 's/.* bad=\([0-9]*\).*/\1/p' <<<"$out")
  got=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  offset=$(sed -n 's/.* next_offset=\([0-9]*\).*/\1/p' <<<"$out")
  booked=$((booked + ok))
  # Far past what the daemon holds, bookings still waiting for their turn
  # a minute after the schedule ended are the probe falling behind; any
  # other failed booking is an error.
  local unanswered=0
  if [ "$bad" -gt 0 ] && grep -q "without an answer" "$tmp/pace.err"; then
    unanswered=1
  fi
  [ "$bad" -eq 0 ] || [ "$unanswered" = 1 ] \
    || die "$bad bookings at $r/s did not get a 201: $(cat "$tmp/pace.err")"
  read -r wait n < <(python3 "$tmp/wait_p99.py" "$tmp/m0" "$tmp/m1")
  # The readers' events wait as the queues' jobs do: the larger of the two.
  probe_wait=$(awk -v w="$wait" -v l="$lag" 'BEGIN { printf "%.1f", (l > w ? l : w) }')
  probe_jpb=$(awk -v j="$((made1 - made0))" -v b="$ok" \
    'BEGIN { printf "%.2f", (b > 0 ? j / b : 0) }')
  probe_rpb=$(awk -v j="$((runs1 - runs0))" -v b="$ok" \
    'BEGIN { printf "%.2f", (b > 0 ? j / b : 0) }')
  # At the end, at most a second's work may wait (jobs, and events the
  # readers have not applied: a run each per listener).
  probe_ok=$(awk -v r="$r" -v got="$got" -v w="$wait" -v back="$back" \
    -v jpb="$probe_jpb" -v rpb="$probe_rpb" -v p99="$p99" -v lag="$lag" \
    'BEGIN { m = (rpb > jpb ? rpb : jpb); print ((got >= 0.95 * r && p99 < 1000 && w < 1000 && lag < 1000 && back <= m * r + 100) ? 1 : 0) }')
  [ "$unanswered" = 0 ] || probe_ok=0
  printf '  %6d bookings/s asked, %6d held (booking p99 %7.1f ms): job wait p99 %7.1f ms (%d jobs), reader lag at most %d ms, %d waiting at the end, %s jobs/booking, %s runs/booking -> %s\n' \
    "$r" "$got" "$p99" "$wait" "$n" "$lag" "$back" "$probe_jpb" "$probe_rpb" \
    "$([ "$probe_ok" = 1 ] && echo holds || echo falls\ behind)"
}
echo "sustained: $sustain_seconds s per rate, from the burst rate up while it holds, then bisecting"
# An open-loop rate is not bounded by the closed-loop burst: the first
# probe is the burst rate, and each one that holds asks a quarter more the
# next (doubling asked twice what the daemon could answer in a minute and
# left bookings unanswered), until one falls behind; then the probes
# bisect between the highest rate held and the lowest that fell behind.
lo=0
hi=$(field rps "$tmp/book.out")
growing=1
sustained=0
sustained_wait=0
sustained_jpb=0
sustained_rpb=0
for ((i = 0; i < sustain_probes; i++)); do
  if [ "$growing" = 1 ]; then
    mid=$hi
  else
    mid=$(((lo + hi) / 2))
  fi
  [ "$mid" -gt "$lo" ] || break
  probe "$mid"
  if [ "$probe_ok" = 1 ]; then
    lo=$mid
    sustained=$mid
    sustained_wait=$probe_wait
    sustained_jpb=$probe_jpb
    sustained_rpb=$probe_rpb
    if [ "$growing" = 1 ]; then
      hi=$((mid + mid / 4))
    fi
  else
    hi=$mid
    growing=0
  fi
  drain
done

# --- 3. and 4. GET one appointment, and nginx: the loopback ceiling ---------
# The two alternate, --rounds times each, and each figure is the median of
# its rounds: this VM's speed drifts from minute to minute, and a ratio of
# two runs made a minute apart swings with it.
nport=$(free_ports 1)
mkdir -p "$tmp/nginx"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes $(nproc);
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / { return 200 "ok"; }
  }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/error.log" \
  -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/out.log" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$nport/" && break
  kill -0 "$nginx_pid" 2>/dev/null \
    || die "nginx exited: $(cat "$tmp/nginx/out.log" "$tmp/nginx/error.log")"
  sleep 0.1
done

for ((r = 1; r <= rounds; r++)); do
  [ "$r" -eq 1 ] && cpu_snapshot >"$tmp/cpu2"
  wrk_run "get$r" -c"$conns" -d"${seconds}s" -s "$here/http_bench/get.lua" \
    -H "Authorization: Bearer $token" "$url/api/appointments/probe"
  [ "$r" -eq 1 ] && cpu_snapshot >"$tmp/cpu3"
  [ "$(field status_errors "$tmp/get$r.out")" -eq 0 ] \
    || die "GET /api/appointments/probe answered errors: $(cat "$tmp/get$r.out")"
  wrk_run "nginx$r" -c"$conns" -d"${seconds}s" -s "$here/http_bench/get.lua" \
    "http://127.0.0.1:$nport/"
done
pick_median get "$rounds"
pick_median nginx "$rounds"
summary get "GET /api/appointments/{id} (c=$conns)"
rounds_line get "$rounds"
cpu_report "$tmp/cpu2" "$tmp/cpu3" "$seconds"
summary nginx "nginx return 200 (c=$conns)"
rounds_line nginx "$rounds"
kill -QUIT "$nginx_pid" 2>/dev/null || true
wait "$nginx_pid" 2>/dev/null || true
nginx_pid=""

# --- 5. resident memory after N bookings ----------------------------------------
fill_start=$(date +%s)
rate=$(field rps "$tmp/book.out")
while [ "$booked" -lt "$bookings" ]; do
  left=$((bookings - booked))
  d=$((left / (rate > 0 ? rate : 1) + 2))
  [ "$d" -gt 60 ] && d=60
  HTTP_BENCH_QUOTA=$(((left + threads - 1) / threads)) \
    book_run fill "$book_conns" "$d"
  rate=$(field rps "$tmp/fill.out")
done
fill_secs=$(($(date +%s) - fill_start))
rss=$(rss_mb)
echo "rss: ${rss_start} MB after setup, ${rss} MB after $booked bookings" \
  "(${fill_secs} s to fill; of it $(awk '/^RssAnon:/ { printf "%.0f", $2 / 1024 }' \
    /proc/"$daemon_pid"/status) MB heap, $(awk '/^RssFile:/ { printf "%.0f", $2 / 1024 }' \
    /proc/"$daemon_pid"/status) MB of LMDB's map and the binary's pages)"

# --- 6. the cost of a scrape at this many bookings ---------------------------
metrics_ms=$(for _ in 1 2 3 4 5; do
  curl -sS -o /dev/null -w '%{time_total}\n' "$url/metrics" \
    -H "Authorization: Bearer $admin"
done | sort -n | awk 'NR == 3 { printf "%.2f", $1 * 1000 }')
echo "metrics: GET /metrics in ${metrics_ms} ms (median of 5) after $booked bookings"

# --- 7. the anchor of the queue figures: BullMQ on Redis --------------------
# bench/bullmq/anchor.mjs on a Redis of its own (appendfsync always: each
# write on disk before the answer, as store.sync=full), for --seconds;
# its dependencies are fetched into the temp dir (npm, no lock file).
# Skipped with --quick, and when node, npm, redis-server or the registry
# are missing (the fields are then 0).
bullmq_jobs=0
bullmq_drain=0
if [ "$quick" -eq 0 ]; then
  if command -v node >/dev/null && command -v npm >/dev/null \
    && command -v redis-server >/dev/null; then
    mkdir -p "$tmp/bullmq" "$tmp/redis"
    cp "$here/bullmq/package.json" "$here/bullmq/anchor.mjs" "$tmp/bullmq/"
    if (cd "$tmp/bullmq" && timeout 240 npm install --no-package-lock \
      --no-audit --no-fund --silent >"$tmp/npm.log" 2>&1); then
      rport=$(free_ports 1)
      redis-server --port "$rport" --bind 127.0.0.1 --save "" \
        --appendonly yes --appendfsync always --dir "$tmp/redis" \
        --daemonize yes --pidfile "$tmp/redis/pid" >/dev/null
      for _ in $(seq 50); do
        redis-cli -p "$rport" ping >/dev/null 2>&1 && break
        sleep 0.1
      done
      out=$(node "$tmp/bullmq/anchor.mjs" --port "$rport" \
        --seconds "$seconds" 2>"$tmp/bullmq.err" || true)
      redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
      echo "bullmq (Redis, appendfsync always, one Worker): ${out:-failed: $(tail -n 3 "$tmp/bullmq.err")}"
      bullmq_jobs=$(sed -n 's/.* processed_per_s=\([0-9]*\).*/\1/p' <<<"$out")
      bullmq_drain=$(sed -n 's/.* drain_per_s=\([0-9]*\).*/\1/p' <<<"$out")
    else
      echo "bullmq: skipped (npm install failed: $(tail -n 1 "$tmp/npm.log"))"
    fi
  else
    echo "bullmq: skipped (node, npm or redis-server missing)"
  fi
fi

book_rps=$(field rps "$tmp/book.out")
book_p99=$(awk -v u="$(field p99_us "$tmp/paced.out")" \
  'BEGIN { printf "%.2f", u / 1000 }')
get_rps=$(field rps "$tmp/get.out")
nginx_rps=$(field rps "$tmp/nginx.out")
echo "booking at c=$book_conns (c=$conns: $(field rps "$tmp/book64.out") req/s);" \
  "p99 at $(field rps "$tmp/paced.out") req/s paced" \
  "(target 10k); GET at" \
  "$(awk -v a="$get_rps" -v b="$nginx_rps" 'BEGIN { printf "%.0f", 100 * a / b }')%" \
  "of nginx; rss after N=$booked bookings"
echo "RESULT http_bench book_rps=$book_rps book_p99_ms=$book_p99" \
  "get_rps=$get_rps nginx_rps=$nginx_rps rss_mb=$rss" \
  "metrics_ms=$metrics_ms scrape=$scrape sustained_book_rps=$sustained" \
  "job_wait_p99_ms=$sustained_wait jobs_per_booking=$sustained_jpb" \
  "runs_per_booking=$sustained_rpb seed_jobs_per_s=${seed_jobs_per_s:-0}" \
  "book_paused_rps=$(field rps "$tmp/bookpaused.out")" \
  "paused_drain_per_s=$paused_drain_per_s" \
  "sustained_jobs_per_s=$(awk -v r="$sustained" -v j="$sustained_rpb" 'BEGIN { printf "%.0f", r * j }')" \
  "bullmq_jobs_per_s=${bullmq_jobs:-0} bullmq_drain_per_s=${bullmq_drain:-0}"
