#!/usr/bin/env bash
# Fuzzes the parsers with libFuzzer, each target for a bounded time, and prints a table (issue 11; not part of the
# test command). Targets (Tests/Fuzz/Targets/FuzzTargets.swift): ingest (request bytes to validated events, as
# POST /api/events and /api/events/batch read them), sse (the client's SSE parser), query (the SSE and read routes'
# query strings, channel names, path-segment decoding).
#
#   scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]        default: 60 s each, every target
#
# Builds ArgusFuzz with -sanitize=fuzzer,address in its own scratch dir (.build/fuzz; the first build takes a
# while), seeds each target from Tests/Fuzz/corpus/<target>/ and grows a working corpus in .build/fuzz/corpus/
# (kept between runs, never committed). A crash, a broken property, a timeout (> 10 s for one input) or an
# out-of-memory stops that target and leaves the input in .build/fuzz/findings/<target>/: fix the code, then copy
# the input to Tests/Fuzz/regressions/<target>/, where FuzzRegressionTests replays it in every test run.
# Extra libFuzzer flags: ARGUS_FUZZ_FLAGS="-max_len=65536".
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ingest sse query)
case "$seconds" in '' | *[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$seconds'." >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
  [ -d "Tests/Fuzz/corpus/$t" ] || { echo "fuzz.sh: unknown target '$t' (ingest, sse, query)." >&2; exit 2; }
done

scratch=.build/fuzz
# Release with testability: the targets reach the server's internals through @testable import, as the tests do.
flags=(-c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
  -Xswiftc -enable-testing -Xswiftc -DARGUS_LIBFUZZER)
echo "building ArgusFuzz (-sanitize=fuzzer,address) in $scratch ..." >&2
if ! swift build "${flags[@]}" --product ArgusFuzz >"$scratch.log" 2>&1; then
  tail -30 "$scratch.log" >&2
  echo "fuzz.sh: the build failed (log: $scratch.log)." >&2
  exit 1
fi
bin="$(swift build "${flags[@]}" --show-bin-path)/ArgusFuzz"

printf '%-7s %12s %8s %9s %6s %6s %8s  %s\n' target executions exec/s new-units cov ft slowest findings >&2
rows=()
status=0
for t in "${targets[@]}"; do
  corpus="$scratch/corpus/$t"
  findings="$scratch/findings/$t"
  log="$scratch/$t.log"
  mkdir -p "$corpus" "$findings"
  before=$(find "$findings" -type f | wc -l)
  # -timeout: one input over 10 s is a finding (a quadratic blow-up, a loop); -rss_limit_mb likewise for memory.
  # shellcheck disable=SC2086
  ARGUS_FUZZ_TARGET=$t "$bin" "$corpus" "Tests/Fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" ${ARGUS_FUZZ_FLAGS:-} >"$log" 2>&1 || status=1
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  # The last status line, "#N  pulse|NEW|DONE  cov: C ft: F corp: ... exec/s: E rss: ...", when a finding ended the
  # run before the final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" <<<"$last"; }
  execs=$(stat number_of_executed_units)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  rate=$(stat average_exec_per_sec)
  [ -n "$rate" ] || rate=$(field exec/s)
  found=$(($(find "$findings" -type f | wc -l) - before))
  note=none
  if [ "$found" -gt 0 ]; then
    what=$(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|Fatal error: .{0,100}' "$log" || true)
    note="$found: ${what:-see log} ($(sed -n 's/.*Test unit written to //p' "$log" | tail -1))"
  fi
  new=$(stat new_units_added)
  cov=$(field cov)
  ft=$(field ft)
  slowest=$(stat slowest_unit_time_sec)
  row=$(printf '%-7s %12s %8s %9s %6s %6s %7ss  %s' "$t" "${execs:-?}" "${rate:-?}" "${new:-?}" "${cov:-?}" "${ft:-?}" \
    "${slowest:-?}" "$note")
  echo "$row" >&2
  rows+=("$row")
done

echo
echo "libFuzzer, $seconds s per target ($(nproc) cores; logs: $scratch/<target>.log)"
printf '%-7s %12s %8s %9s %6s %6s %8s  %s\n' target executions exec/s new-units cov ft slowest findings
printf '%s\n' "${rows[@]}"
exit $status
