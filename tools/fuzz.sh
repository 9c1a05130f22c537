#!/usr/bin/env bash
# fuzz.sh - runs the libFuzzer targets of tests/fuzz, each for a bounded
# time, and prints the executions of each; exits 1 on any finding (crash,
# sanitizer report, leak, timeout, out-of-memory), whose input is kept.
#
#   tools/fuzz.sh [-t SECONDS] [-b BUILDDIR] [-c CORPUSDIR] [TARGET...]
#
# -t  seconds per target (default 600: a long campaign; .ci/run uses 12)
# -b  build directory (default build-fuzz; set up with clang and -Dfuzz=true
#     when missing, then `ninja fuzz`)
# -c  where corpora grow and findings land (default .fuzz; per target
#     CORPUS/corpus/TARGET, findings CORPUS/findings/TARGET-*)
# TARGET: st_header, st_index, config_load, tokenizer_json, vocab_merges,
#     encode, table_md, table_score, image_png, image_jpeg, image_gif,
#     image_bmp, image_tga, image_pnm (default: all). Seeds come fresh from
#     tests/fuzz/make_seeds.py on every run.
#
# Stop a campaign rather than pausing it (SIGSTOP): libFuzzer's -timeout
# counts wall-clock time, so the input running across a pause is reported
# as a hang. For the same reason a campaign at `nice 19` starves while
# other work holds every core: in session 24 one was reported as a hang
# (over 10 s) while a CI run held both cores, and its input ran in 0.11 s
# alone. Run a timeout's input alone (build-fuzz/tests/fuzz/fuzz_TARGET
# FILE, under `time`) before calling it a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=600
build=build-fuzz
corpus=.fuzz
while getopts t:b:c: opt; do
    case $opt in
        t) secs=$OPTARG ;;
        b) build=$OPTARG ;;
        c) corpus=$OPTARG ;;
        *) echo "usage: tools/fuzz.sh [-t SECONDS] [-b BUILDDIR] [-c DIR]" \
                "[TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
all=(st_header st_index config_load tokenizer_json vocab_merges encode
     table_md table_score image_png image_jpeg image_gif image_bmp image_tga
     image_pnm)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

work=$(mktemp -d)
# the targets' scratch files (a crash skips their own clean-up)
shm=/tmp
[ -w /dev/shm ] && shm=/dev/shm
export NV_FUZZ_SCRATCH
NV_FUZZ_SCRATCH=$(mktemp -d "$shm/nvlm_fuzz_run.XXXXXX")
trap 'rm -rf "$work" "$NV_FUZZ_SCRATCH"' EXIT
seeds=$work/seeds
if [ ! -f "$build/build.ninja" ] &&
   ! CC=clang meson setup "$build" -Dfuzz=true >"$work/setup.log" 2>&1; then
    cat "$work/setup.log" >&2
    echo "fuzz: cannot set up $build (clang and -Dfuzz=true)" >&2
    exit 2
fi
if ! ninja -C "$build" fuzz >"$work/ninja.log" 2>&1; then
    tail -30 "$work/ninja.log" >&2
    echo "fuzz: the targets do not build" >&2
    exit 2
fi
/usr/bin/python3 tests/fuzz/make_seeds.py "$seeds" >/dev/null
mkdir -p "$corpus/findings"

status=0
total=0
printf '%-16s %12s %10s %6s  %s\n' target executions exec/s edges result
for t in "${targets[@]}"; do
    bin="$build/tests/fuzz/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz: no target $t ($bin)" >&2
        exit 2
    fi
    mkdir -p "$corpus/corpus/$t"
    log="$corpus/findings/$t.log"
    rc=0
    # -timeout: one input over 10 s is a finding (a hang);
    # -rss_limit_mb: over 2 GB is one too (memory out of proportion).
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$corpus/findings/$t-" \
        "$corpus/corpus/$t" "$seeds/$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # edges: libFuzzer's last "cov:" figure, the code the corpus reaches
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    execs=${execs:-0}
    total=$((total + execs))
    if [ $rc = 0 ]; then
        result=ok
    elif [ $rc = 72 ] && grep -q 'libFuzzer: run interrupted' "$log" &&
        ! grep -q -E 'ERROR|runtime error|Test unit written' "$log"; then
        # SIGINT stops a campaign early: libFuzzer exits 72 with no input
        # written, which is not a finding.
        result="stopped (SIGINT)"
    else
        result="FINDING (exit $rc): $log"
        status=1
    fi
    printf '%-16s %12s %10s %6s  %s\n' "$t" "$execs" "${rate:-?}" \
        "${cov:-?}" "$result"
    if [ $rc != 0 ]; then
        grep -m3 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" \
            >&2 || tail -5 "$log" >&2
    fi
done
printf '%-16s %12s\n' total "$total"
exit $status
