#!/bin/sh
# Installs package.json's modules into WORK_DIR (again only when
# package.json changed; `npm install --no-package-lock`, as
# tests/app/echo_test.cpp does) and validates OPENAPI_YAML with
# validate.mjs. Exits 77 (ctest: skipped) when node or npm is missing or
# the registry cannot be reached.
#
#   run_validate.sh OPENAPI_YAML WORK_DIR
set -u
src=$(cd "$(dirname "$0")" && pwd)
doc=$1
dir=$2
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node or npm is not installed (scripts/setup.sh installs them): skipped"
  exit 77
fi
mkdir -p "$dir"
cp "$src/validate.mjs" "$dir/validate.mjs"
if ! cmp -s "$src/package.json" "$dir/package.json" \
   || [ ! -f "$dir/node_modules/@apidevtools/swagger-parser/package.json" ]; then
  cp "$src/package.json" "$dir/package.json"
  if ! (cd "$dir" && timeout 240 npm install --no-package-lock --no-audit \
          --no-fund >npm-install.log 2>&1); then
    cat "$dir/npm-install.log"
    rm -f "$dir/package.json" # try again next time
    echo "npm install failed (no registry?): skipped"
    exit 77
  fi
fi
cd "$dir" && exec node validate.mjs "$doc"
