#!/usr/bin/env bash
# The Debian package (packaging/): builds it with cpack from what the build
# made, checks its fields, files, conffiles and dependencies, installs it
# with dpkg into an empty root, checks the installed unit with
# systemd-analyze and starts the installed daemon the way the unit does.
#
#   tests/packaging/deb_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/switchboard-deb-XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "deb_test: $*" >&2
  exit 1
}
# Runs a command with its output kept; shows it and fails when it fails.
run() {
  local what=$1
  shift
  if ! "$@" >"$tmp/run.log" 2>&1; then
    cat "$tmp/run.log" >&2
    fail "$what failed: $*"
  fi
}

# 1. The package, from the binary the build made.
run cpack bash -c "cd '$build' && cpack -G DEB -B '$tmp/out'"
debs=("$tmp"/out/switchboard_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] ||
  fail "expected one switchboard_*.deb, found: ${debs[*]}"
deb=${debs[0]}
field() { dpkg-deb -f "$deb" "$1"; }
version=$("$build/app/switchboard" --version | awk '{print $2}')
[ "$(field Package)" = switchboard ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] ||
  fail "Version $(field Version), the binary says $version"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ -n "$(field Description)" ] || fail "no Description"

# Depends names, for every shared library the binary needs, the package
# that holds it here or a name that package provides; and tzdata.
depends=$(field Depends)
has_dep() { [[ ", $depends," == *", $1 "* || ", $depends," == *", $1,"* ]]; }
provides() { # the names package $1 provides, one a line
  dpkg-query -W -f '${Provides}' "$1" | tr ',' '\n' | awk 'NF {print $1}'
}
has_dep tzdata || fail "Depends lacks tzdata: $depends"
while read -r lib; do
  owner=$(dpkg-query -S "$lib" "/usr$lib" "${lib#/usr}" 2>/dev/null |
    awk -F: 'NR == 1 {print $1}' || true)
  [ -n "$owner" ] || fail "no package owns $lib, which the daemon links"
  found=
  for name in "$owner" $(provides "$owner"); do
    has_dep "$name" && found=1
  done
  [ -n "$found" ] || fail "Depends lacks $owner (for $lib): $depends"
done < <(
  # The libraries the binary names itself (not theirs), found as ldd does.
  ldd "$build/app/switchboard" >"$tmp/ldd"
  objdump -p "$build/app/switchboard" | awk '$1 == "NEEDED" {print $2}' |
    while read -r soname; do
      awk -v so="$soname" '$1 == so && $2 == "=>" {print $3}' "$tmp/ldd"
    done
)
# Each dependency is met by a package installed here (where the daemon
# was built and runs), in a version that satisfies it, or is a name such
# a package provides: dpkg would take the package on a system like this.
IFS=',' read -ra deps <<<"$depends"
for dep in "${deps[@]}"; do
  read -r name op want <<<"$(tr -d '()' <<<"$dep")"
  if have=$(dpkg-query -W -f '${Version}' "$name" 2>/dev/null); then
    if [ -n "$op" ]; then
      dpkg --compare-versions "$have" "$op" "$want" ||
        fail "Depends asks $name $op $want; installed here: $have"
    fi
  elif ! dpkg-query -W -f '${Provides}\n' | tr ',' '\n' |
    awk '{print $1}' | grep -qx "$name"; then
    fail "Depends names $name, which nothing installed here is or provides"
  fi
done

# 2. Its files: exactly these; the configuration is a conffile.
dpkg-deb -c "$deb" | awk '$1 ~ /^-/ {print $6}' | sort >"$tmp/files"
cat >"$tmp/expected-files" <<'EOF'
./etc/switchboard/config.ini
./lib/systemd/system/switchboard.service
./usr/bin/switchboard
./usr/share/doc/switchboard/CHANGELOG.md
./usr/share/doc/switchboard/README.md
./usr/share/doc/switchboard/design.md
./usr/share/doc/switchboard/openapi.yaml
EOF
diff -u "$tmp/expected-files" "$tmp/files" || fail "unexpected file list"
dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = /etc/switchboard/config.ini ] ||
  fail "conffiles: $(cat "$tmp/control/conffiles")"

# 3. Installed by dpkg into an empty root: a dpkg database of its own and
# nothing else. That root has none of the libraries, so dpkg may not
# check the dependencies there (--force-depends); step 1 checked them
# against the libraries the binary links. The package has no maintainer
# scripts, so nothing runs inside the root.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
run "dpkg -i" dpkg --root="$root" --force-depends -i "$deb"
dpkg --root="$root" -s switchboard | grep -qx 'Status: install ok installed' ||
  fail "dpkg does not list switchboard as installed"
run "dpkg --verify" dpkg --root="$root" --verify switchboard
unit=$root/lib/systemd/system/switchboard.service
config=$root/etc/switchboard/config.ini
[ -x "$root/usr/bin/switchboard" ] || fail "no /usr/bin/switchboard"
[ -f "$unit" ] || fail "no unit"
grep -qx 'path = /var/lib/switchboard' "$config" ||
  fail "the installed config.ini does not keep the store in /var/lib/switchboard"

# 4. The unit as systemd reads it in that root: no error, no warning
# (systemd-analyze warns of a misspelt directive and still exits 0). The
# root stands for a system with systemd installed, so it gets the host's
# systemd targets that the unit's dependencies name; ExecStart's binary is
# looked up in the root.
verify() {
  systemd-analyze verify --root="$1" --man=no --generators=no \
    switchboard.service 2>&1
}
with_targets() {
  cp /lib/systemd/system/*.target "$1/lib/systemd/system/"
}
with_targets "$root"
if ! out=$(verify "$root") || [ -n "$out" ]; then
  echo "$out" >&2
  fail "systemd-analyze verify found problems in the installed unit"
fi
# The same check refuses a unit with a misspelt directive, or it would
# prove nothing here.
broken=$tmp/broken
mkdir -p "$broken/lib/systemd/system" "$broken/usr/bin"
cp "$root/usr/bin/switchboard" "$broken/usr/bin/"
with_targets "$broken"
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$unit" \
  >"$broken/lib/systemd/system/switchboard.service"
if out=$(verify "$broken") && [ -z "$out" ]; then
  fail "systemd-analyze verify accepted a unit with a misspelt directive"
fi
# The hardening, as systemd rates it (0 to 100 here; 20 is its "OK"
# exposure of 2.0): losing a part of it fails.
if ! out=$(systemd-analyze security --offline=true --threshold=20 \
  --root="$root" switchboard.service 2>&1); then
  echo "$out" >&2
  fail "the unit's exposure is above 2.0"
fi
for setting in Type=notify DynamicUser=yes StateDirectory=switchboard \
  ProtectSystem=strict NoNewPrivileges=yes; do
  grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done
# Type=notify needs a daemon that notifies: one linked with libsystemd.
has_dep libsystemd0 || fail "Type=notify, but the daemon has no libsystemd"

# 5. The installed binary on the installed configuration.
installed=$root/usr/bin/switchboard
[ "$("$installed" --version)" = "switchboard $version" ] ||
  fail "installed --version: $("$installed" --version)"
run "config check" "$installed" config check --config "$config"
"$installed" config show --config "$config" >"$tmp/show"
grep -q '^store.path = /var/lib/switchboard ' "$tmp/show" ||
  fail "config show: $(grep '^store.path' "$tmp/show")"

# The unit's own command line, its files taken from the root, starts the
# daemon: only the store (not ours to write here) and the port move.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
read -ra argv <<<"$exec_start"
for i in "${!argv[@]}"; do
  if [[ ${argv[$i]} == /* ]]; then
    argv[$i]=$root${argv[$i]}
  fi
done
"${argv[@]}" --set store.path="$tmp/state" --set http.port=0 \
  >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
# A bound for a hung start, far above what a start takes.
for _ in $(seq 600); do
  grep -q 'serving; store at' "$tmp/daemon.log" && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'serving; store at' "$tmp/daemon.log"; then
  cat "$tmp/daemon.log" >&2
  fail "the unit's ExecStart did not start the daemon"
fi
port=$(sed -n 's/.*http listening on [^:]*:\([0-9]*\).*/\1/p' "$tmp/daemon.log")
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
[ "$status" = 200 ] || fail "GET /health answered $status"
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
if [ "$rc" -ne 0 ]; then
  cat "$tmp/daemon.log" >&2
  fail "the daemon exited with $rc on SIGTERM"
fi
echo "deb_test: $(basename "$deb") built, installed and checked"
