#!/usr/bin/env bash
# install_lookup.sh - issue 19: "the bundled model path is compiled in as an
# absolute source path and meson install does not install it". A second
# build of nvlm with --prefix in a scratch directory is installed there
# (meson install), then, with no -m:
#  - the installed nvlm uses PREFIX/share/nvlm/models/nvlm-tables (info
#    names it; table reads an installed sample with it; tokenize works);
#  - so does a copy of the installed nvlm outside any build tree;
#  - the build tree's own nvlm (NVLM_BIN) uses the source tree's model;
#  - a broken installed config.json is what the installed nvlm reports, so
#    the source tree's model is not silently used instead;
#  - with the installed model gone, it says where it looked.
# The second build is plain (-O0) and builds only the nvlm target.
set -u
: "${NVLM_BIN:?}" "${NV_SOURCE_ROOT:?}"
failures=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
check() { checks=$((checks + 1)); }

prefix=$tmp/prefix
model=$prefix/share/nvlm/models/nvlm-tables
if ! meson setup "$tmp/build" "$NV_SOURCE_ROOT" --prefix="$prefix" \
        -Dbuildtype=plain >"$tmp/setup.log" 2>&1 ||
   ! ninja -C "$tmp/build" cli/nvlm >"$tmp/ninja.log" 2>&1 ||
   ! meson install -C "$tmp/build" --no-rebuild --quiet >"$tmp/install.log" 2>&1
then
    cat "$tmp"/*.log >&2
    echo "FAILED: could not build and install nvlm into $prefix" >&2
    exit 1
fi

check
[ -x "$prefix/bin/nvlm" ] && [ -f "$model/config.json" ] &&
    [ -f "$model/model.safetensors" ] &&
    [ -f "$prefix/share/nvlm/samples/table1.png" ] ||
    fail "meson install did not install bin/nvlm, the model and the samples"

# $1 = nvlm binary, $2 = the model directory its info must name
expect_model() {
    check
    local out
    out=$("$1" info 2>&1) || { fail "$1 info: $out"; return; }
    grep -qx "model: *$2" <<<"$out" ||
        fail "$1 info without -m uses $(grep '^model:' <<<"$out"), not $2"
}
expect_model "$prefix/bin/nvlm" "$model"
mkdir "$tmp/elsewhere"
cp "$prefix/bin/nvlm" "$tmp/elsewhere/nvlm"
expect_model "$tmp/elsewhere/nvlm" "$model"
expect_model "$NVLM_BIN" "$NV_SOURCE_ROOT/assets/models/nvlm-tables"

check
"$prefix/bin/nvlm" tokenize hello >"$tmp/tok" 2>&1 ||
    fail "installed tokenize without -m: $(cat "$tmp/tok")"
check
if "$prefix/bin/nvlm" table -t 1 "$prefix/share/nvlm/samples/table1.png" \
        >"$tmp/table" 2>"$tmp/table.err"; then
    grep -q '^| ' "$tmp/table" || fail "installed table printed no table"
else
    fail "installed table: $(cat "$tmp/table.err")"
fi

# The installed copy is the one read: break it and the error names it.
check
cp "$model/config.json" "$tmp/config.json"
echo '{' >"$model/config.json"
if "$tmp/elsewhere/nvlm" info >"$tmp/out" 2>&1; then
    fail "a broken installed config.json was not noticed"
else
    grep -q "$model/config.json" "$tmp/out" ||
        fail "broken installed config: $(cat "$tmp/out")"
fi
cp "$tmp/config.json" "$model/config.json"

# Without the installed model the installed nvlm falls back to the source
# tree's (compiled in) and says so by path; both gone is an error naming
# both (not tested: the source tree's model stays).
check
rm -r "$prefix/share/nvlm/models"
expect_model "$prefix/bin/nvlm" "$NV_SOURCE_ROOT/assets/models/nvlm-tables"

echo "install_lookup: $checks checks, $failures failed"
[ "$failures" = 0 ]
