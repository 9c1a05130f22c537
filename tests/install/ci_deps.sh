#!/usr/bin/env bash
# ci_deps.sh - issue 19: ".ci/run --runtime-deps" installs only what builds
# and runs nvlm; "--deps-only" adds what the tests and tools/ need. Runs
# .ci/run with stand-ins for dpkg (every package missing), apt-get
# (records what it is asked to install) and sudo on PATH, so nothing is
# installed, and checks the two lists.
set -u
: "${NV_SOURCE_ROOT:?}"
failures=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

mkdir "$tmp/bin"
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/dpkg"
printf '#!/bin/sh\necho "$*" >>"%s/apt.log"\n' "$tmp" >"$tmp/bin/apt-get"
printf '#!/bin/sh\nexec "$@"\n' >"$tmp/bin/sudo"
chmod +x "$tmp/bin"/*

# $1 = option; prints the packages apt-get was asked to install
installs() {
    rm -f "$tmp/apt.log"
    PATH="$tmp/bin:$PATH" bash "$NV_SOURCE_ROOT/.ci/run" "$1" \
        >"$tmp/out" 2>&1 || { fail ".ci/run $1: $(cat "$tmp/out")"; return; }
    grep '^install ' "$tmp/apt.log" | tr ' ' '\n' | grep -v '^-' |
        grep -vx 'install' | sort
}

runtime="build-essential libcjson-dev libdnnl-dev libjpeg62-turbo-dev
libmicrohttpd-dev libopenblas-dev libpcre2-dev libpng-dev libstb-dev
libutf8proc-dev meson ninja-build pkg-config"
checks=$((checks + 1))
got=$(installs --runtime-deps)
want=$(tr ' ' '\n' <<<"$runtime" | sort)
[ "$got" = "$want" ] ||
    fail "--runtime-deps installs [$(echo $got)], want [$(echo $want)]"
checks=$((checks + 1))
if grep -E '^(python3|fonts|chromium|clang|libclang)' <<<"$got" >/dev/null; then
    fail "--runtime-deps installs a tool package: $(echo $got)"
fi

checks=$((checks + 1))
got=$(installs --deps-only)
for p in $runtime python3-torch python3-numpy python3-pil fonts-dejavu-core \
         chromium clang libclang-rt-dev; do
    grep -qx "$p" <<<"$got" || fail "--deps-only does not install $p"
done

# Every pkg-config dependency of the meson.build files has its -dev package
# in the runtime list (the names differ, so the map is written here).
checks=$((checks + 1))
declare -A dev=([openblas]=libopenblas-dev [libpng]=libpng-dev
    [libjpeg]=libjpeg62-turbo-dev [stb]=libstb-dev [libcjson]=libcjson-dev
    [libpcre2-8]=libpcre2-dev [libutf8proc]=libutf8proc-dev
    [libmicrohttpd]=libmicrohttpd-dev)
for d in $(find "$NV_SOURCE_ROOT" -name meson.build -not -path '*/build*' \
             -exec sed -n "s/.*[^_]dependency('\([^']*\)').*/\1/p" {} +); do
    [ "$d" = threads ] && continue
    p=${dev[$d]:-}
    [ -n "$p" ] || { fail "meson.build needs '$d': no package known"; continue; }
    grep -qw "$p" <<<"$runtime" || fail "'$d' ($p) is not a runtime package"
done

echo "ci_deps: $checks checks, $failures failed"
[ "$failures" = 0 ]
