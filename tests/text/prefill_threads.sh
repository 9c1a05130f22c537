#!/bin/bash
# prefill_threads.sh [fifo] - a 2-thread prefill of 512 tokens finishes
# (issue 15 item 0, "one owner of the cores"): `nvlm bench --prompt-tokens
# 512 -t 2` on the tiny_nvlm fixture, which runs the prefill on 1 thread and
# then on 2. Completion only: no time is checked.
#
# With `fifo` the command runs under SCHED_FIFO (chrt -f 1), where a thread
# that spins while the thread it waits for cannot get a core never gives
# way: when nvlm's pool and OpenBLAS both ran threads, this prefill never
# ended. It needs root (CI runs as root) and a kernel that grants real-time
# priority here; otherwise the test is skipped (exit 77). `timeout` runs
# outside chrt, under the normal scheduler, so that the kernel's real-time
# throttling (sched_rt_runtime_us) still lets it stop a hung run.
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}"
model=$NV_FIXTURE_DIR/tiny_nvlm
limit=60
run=()
if [ "${1:-}" = fifo ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: SCHED_FIFO needs root"
        exit 77
    fi
    if ! chrt -f 1 true 2>/dev/null; then
        echo "SKIP: chrt -f 1 is refused here (no real-time priority)"
        exit 77
    fi
    run=(chrt -f 1)
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
timeout -k 5 "$limit" "${run[@]}" "$NVLM_BIN" bench -m "$model" \
    --prompt-tokens 512 -t 2 --repeat 2 --warmup 0 >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "FAIL: the 2-thread prefill of 512 tokens did not finish in" \
        "${limit} s${run[*]:+ under ${run[*]}}" >&2
    exit 1
fi
if [ "$rc" != 0 ]; then
    echo "FAIL: nvlm bench exited with $rc" >&2
    exit 1
fi
grep -q '^| 2 | ' "$out" || { echo "FAIL: no 2-thread row" >&2; exit 1; }
grep -q '^Speed-up 2 threads / 1 thread: ' "$out" ||
    { echo "FAIL: no speed-up line" >&2; exit 1; }
exit 0
