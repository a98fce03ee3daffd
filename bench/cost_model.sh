#!/usr/bin/env bash
# Splits what a booking costs into what the booking itself costs and what
# a commit costs. cpu_per_booking.sh runs at several fixed rates; the
# faster the rate, the more bookings share a commit, so the cost per
# booking falls. A least-squares line through (commits per booking, cost
# per booking) gives both parts: its slope is the cost of one commit, its
# intercept the cost of a booking whose commits are shared by many (the
# floor that batching alone cannot go below). Fitted for the whole daemon,
# the store writer, the actors, and the bytes written.
#
# `ceiling_rps` is two cores divided by the booking's own cost: the rate no
# commit batching can lift the daemon past on this machine; the sustained
# rate sits below it. A cost, not a speed: no anchor.
#
# Usage: bench/cost_model.sh [--quick] [--rates "R1 R2 ..."] [--seconds S]
#          [--pace PATH] [--binary PATH]
# Default rates 500 1000 2000 3000 for 10 s each (about two minutes);
# --quick: 1,000 and 2,000 for 3 s (a check that it runs; below about
# 500/s the daemon's idle work, spread over few bookings, bends the line).
# --pace, --binary and --staff, and CPU_BENCH_SET in the environment, go
# to cpu_per_booking.sh. The last line is "RESULT cost_model booking_us=...
# commit_us=... writer_booking_us=... writer_commit_us=...
# actors_booking_us=... actors_commit_us=... booking_kb=... commit_kb=...
# kernel_booking_us=... kernel_commit_us=... (system time)
# ceiling_rps=... rates=...".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  echo "cost_model.sh: $1" >&2
  echo "usage: bench/cost_model.sh [--quick] [--rates \"R1 R2 ...\"]" \
    "[--seconds S] [--pace PATH] [--binary PATH] [--staff N]" >&2
  exit 2
}
rates="500 1000 2000 3000"
seconds=10
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
  --quick)
    rates="1000 2000"
    seconds=3
    ;;
  --rates)
    [ $# -ge 2 ] || usage "--rates needs a list"
    rates=$2
    shift
    ;;
  --seconds)
    [ $# -ge 2 ] || usage "--seconds needs a value"
    seconds=$2
    shift
    ;;
  --pace | --binary | --staff)
    [ $# -ge 2 ] || usage "$1 needs a value"
    pass+=("$1" "$2")
    shift
    ;;
  *)
    usage "unknown option $1"
    ;;
  esac
  shift
done

lines=""
for r in $rates; do
  line=$(bash "$here/cpu_per_booking.sh" --rate "$r" --seconds "$seconds" \
    ${pass[@]+"${pass[@]}"} | grep '^RESULT cpu_per_booking') || {
    echo "cost_model.sh: cpu_per_booking.sh at $r/s printed no RESULT" >&2
    exit 1
  }
  echo "rate $r: $line"
  lines+="$r $line"$'\n'
done

python3 - "$lines" <<'EOF'
import sys

rows = []
for line in sys.argv[1].splitlines():
    if not line.strip():
        continue
    rate, rest = line.split(" ", 1)
    f = dict(kv.split("=") for kv in rest.split() if "=" in kv)
    rows.append((int(rate), {k: float(v) for k, v in f.items()}))
if len(rows) < 2:
    sys.exit("cost_model.sh: needs at least two rates")


def fit(name):
    """Slope (per commit) and intercept (per booking) of name against
    commits per booking."""
    xs = [f["commits_per_1k"] / 1000 for _, f in rows]
    ys = [f[name] for _, f in rows]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


if fit("total_us") is None:
    # Nothing to split: every rate shared its commits alike.
    print("RESULT cost_model fit=none (every rate gave the same commits per "
          "booking; use rates further apart)")
    sys.exit(0)
commit_us, booking_us = fit("total_us")
wc, wb = fit("writer_us")
ac, ab = fit("actors_us")
kc, kb = fit("written_kb")
sc, sb = fit("kernel_us")
ceiling = 2e6 / booking_us if booking_us > 0 else 0
for rate, f in rows:
    model = booking_us + commit_us * f["commits_per_1k"] / 1000
    print(f"  {rate:>5}/s: {f['total_us']:7.1f} us per booking measured, "
          f"{model:7.1f} by the fit")
print(f"RESULT cost_model booking_us={booking_us:.1f} commit_us={commit_us:.1f} "
      f"writer_booking_us={wb:.1f} writer_commit_us={wc:.1f} "
      f"actors_booking_us={ab:.1f} actors_commit_us={ac:.1f} "
      f"booking_kb={kb:.1f} commit_kb={kc:.1f} kernel_booking_us={sb:.1f} "
      f"kernel_commit_us={sc:.1f} ceiling_rps={ceiling:.0f} "
      f"rates={','.join(str(r) for r, _ in rows)}")
EOF
