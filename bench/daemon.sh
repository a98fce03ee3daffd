# Shared by the bench scripts that run the daemon (sourced): they set
# `bench` (their name, for messages) first, `tmp` (a temp dir) before
# start_daemon, and `url` before post_as. Sourcing sets `here` (bench/),
# `root` (the checkout), `threads` (wrk's, 2) and `bin` (the daemon binary,
# build/app/switchboard unless --binary or a lone PATH says otherwise).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
threads=2
bin="$root/build/app/switchboard"

# The script's usage: its header from "# Usage" to the line that the
# pattern `usage_end` matches, without the "# ".
usage() {
  sed -n "/^# Usage/,/$usage_end/p" "$0" | sed 's/^# \{0,1\}//'
}

# Sets each variable of the name=value words given.
set_values() { # name=value...
  local v
  for v in "$@"; do
    printf -v "${v%%=*}" %s "${v#*=}"
  done
}

# Reads the command line. With --quick anywhere, the array `quick_defaults`
# (name=value words, the CI-sized defaults) applies first, so that options
# given with it still apply. The associative array `options` maps an
# option to the variable that takes its value, or a flag to the
# variable=value it sets; --quick is passed over unless `options` names
# it, --binary PATH or a lone PATH sets `bin`, -h/--help prints the usage;
# an unknown option exits 2 (after the usage too when `usage_on_error` is
# set).
read_options() { # args...
  local a spec
  for a in "$@"; do
    if [ "$a" = --quick ]; then
      set_values ${quick_defaults[@]+"${quick_defaults[@]}"}
    fi
  done
  while [ $# -gt 0 ]; do
    spec=${1:+${options[$1]:-}}
    if [ -n "$spec" ] && [ "$spec" != "${spec%%=*}" ]; then
      set_values "$spec"
    elif [ -n "$spec" ]; then
      set_values "$spec=$2"
      shift
    else
      case "$1" in
      --quick) ;;
      --binary) bin=$2 && shift ;;
      -h | --help) usage && exit 0 ;;
      -*)
        echo "$bench: unknown option $1" >&2
        [ -z "${usage_on_error:-}" ] || usage >&2
        exit 2
        ;;
      *) bin=$1 ;;
      esac
    fi
    shift
  done
}

# For a script that books with `pace` at a fixed rate: reads the command
# line (--rate, --seconds, --staff, --pace and the options of
# read_options) over the defaults the script set (`rate`, `seconds`,
# `staff`, `quick_defaults`), then dies unless the daemon and `pace` are
# there.
read_pace_options() { # args...
  pace="$root/build/bench/pace"
  declare -gA options=([--rate]=rate [--seconds]=seconds [--staff]=staff
    [--pace]=pace)
  read_options "$@"
  need_daemon
  [ -x "$pace" ] || die "no pace binary at $pace (build the pace target)"
}

# Prints "$bench: message" on stderr and exits 1.
die() {
  echo "$bench: $*" >&2
  exit 1
}

# Dies unless every tool named is on the PATH.
need_tools() { # tool...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs it)"
  done
}

# Dies unless `bin` is an executable; makes it an absolute path.
need_daemon() {
  [ -x "$bin" ] || die "no daemon binary at $bin (build it, or pass its path)"
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
}

# Starts `switchboard serve` with the given options from $tmp, so that no
# ./config.ini applies (embedded defaults), logging to $tmp/daemon.log;
# sets `daemon_pid`, and `port` once it listens (dies after 60 s). The
# array `daemon_wrapper`, when set, is the command the daemon runs under
# (daemon_pid is then the wrapper's).
start_daemon() {
  (cd "$tmp" && exec ${daemon_wrapper[@]+"${daemon_wrapper[@]}"} "$bin" \
    serve --set http.port=0 "$@" >"$tmp/daemon.log" 2>&1) &
  daemon_pid=$!
  port=""
  local line
  for _ in $(seq 600); do
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited at start"
    line=$(grep -m1 -o 'http listening on [^ ]*' "$tmp/daemon.log" || true)
    if [ -n "$line" ]; then
      port=${line##*:}
      return 0
    fi
    sleep 0.1
  done
  die "the daemon did not log 'http listening on' in 60 s"
}

# Stops the daemon (SIGTERM, SIGKILL after 30 s); returns 1 when it had to
# be killed.
stop_daemon() {
  [ -n "${daemon_pid:-}" ] && kill -0 "$daemon_pid" 2>/dev/null || return 0
  kill -TERM "$daemon_pid" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$daemon_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$daemon_pid" 2>/dev/null || true
  return 1
}

# After a failure: the end of the daemon's log, on stderr.
show_daemon_log() {
  if [ -f "$tmp/daemon.log" ]; then
    echo "--- last lines of the daemon's log" >&2
    tail -n 20 "$tmp/daemon.log" >&2
  fi
}

# Runs the function `$1` when the script exits; SIGINT and SIGTERM exit
# 130 and 143 (through it).
on_exit() { # function
  # shellcheck disable=SC2064 # the function's name, set now
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# The exit of a script that runs one daemon: stops it, shows the end of its
# log after a failure, removes $tmp and exits with `rc` (by default the
# status the script exits with).
cleanup_daemon() { # [rc]
  local rc=${1:-$?}
  stop_daemon || true
  wait 2>/dev/null || true
  [ "$rc" -eq 0 ] || show_daemon_log
  rm -rf "$tmp"
  exit "$rc"
}

# Adds a company to the store at `path` (switchboard tenant add NAME
# OPTION...), run from $tmp like start_daemon; prints its token, or
# nothing (the reason is in $tmp/tenant.log).
add_tenant() { # path name [option...]
  local path=$1
  shift
  (cd "$tmp" && "$bin" tenant add "$@" --set "store.path=$path" \
    2>>"$tmp/tenant.log" | grep -m1 '^sb_' || true)
}

# Seeds the company of `token` for bench/http_bench/book.lua: customer
# cu1, service sv1 and staff st0 to st<staff - 1>, each id after
# `prefix`; `fields` are more of the customer's (JSON members).
seed_company() { # token [prefix [fields]]
  local p=${2:-} i
  post_as "$1" /api/customers "{\"id\":\"${p}cu1\",\"name\":\"Ada\",\"phone\":\"+4930123\"${3:+,$3}}"
  post_as "$1" /api/services "{\"id\":\"${p}sv1\",\"name\":\"Trim\",\"price_cents\":1500,\"duration_minutes\":5}"
  for ((i = 0; i < staff; i++)); do
    post_as "$1" /api/staff "{\"id\":\"${p}st$i\",\"name\":\"Staff $i\"}"
  done
}

# POSTs `body` to `path` of the daemon at $url with `token`; dies unless
# the answer is 201.
post_as() { # token path body
  local code
  code=$(curl -sS -o "$tmp/reply" -w '%{http_code}' -X POST "$url$2" \
    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    --data "$3")
  [ "$code" = 201 ] || die "POST $2 answered $code: $(cat "$tmp/reply")"
}

# The value of name=value on the WRK line that bench/http_bench/report.lua
# printed into `file`.
field() { # name file
  sed -n "s/^WRK .*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -n1
}

# Microseconds as milliseconds, 2 decimals.
ms() { # microseconds
  awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'
}

# `count` distinct free ports for listeners started later,
# below the kernel's ephemeral range: an ephemeral port may go to an
# outgoing connection before it is bound. One per line.
free_ports() { # count
  python3 -c 'import random, socket, sys
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    if p not in ports:
        ports.append(p)
print("\n".join(str(p) for p in ports))' "$1"
}

# From one GET /api/queues (asked with the admin token `admin`), one sum
# per argument over every queue, on one line: an argument names the
# fields it adds up, e.g. `queue_sums "ready leased" processed`; the
# field events_behind is that of the catch-up listeners (analytics: the
# events the log has past its checkpoint).
queue_sums() { # "field..."...
  curl -sS "$url/api/queues" -H "Authorization: Bearer $admin" \
    | python3 -c 'import json, sys
r = json.load(sys.stdin)
q = r["queues"]
c = r.get("catch_up", [])
def one(f):
    return sum(x[f] for x in (c if f == "events_behind" else q))
print(*(sum(one(f) for f in a.split()) for a in sys.argv[1:]))' "$@"
}

# The fields whose sum is the jobs made so far (processed, failed and
# everything still queued), and those whose sum is the backlog (jobs
# ready, leased or in flight, and the events the catch-up listeners have
# still to read; delayed jobs such as reminders are due later and not
# counted).
made_fields="processed failed ready delayed leased"
backlog_fields="ready leased in_flight events_behind"

# Jobs made so far.
jobs_made() {
  queue_sums "$made_fields"
}

# Waits (up to 2 minutes) until no job is ready, leased or running, then
# 6 s more: the notifications' 5 s delay, then their channel jobs. Jobs
# due later (the reminders) stay, as in production.
wait_drained() {
  for _ in $(seq 600); do
    [ "$(queue_sums "$backlog_fields")" = 0 ] && break
    sleep 0.2
  done
  sleep 6
}
