#!/usr/bin/env bash
# Coverage-guided fuzzing of usersync's own parsers with libFuzzer (the Swift toolchain's
# -sanitize=fuzzer, with AddressSanitizer): the DN parser, the filter checker and escaper, the
# CSV checked stream, the configuration loader, JSON paths and the cron parser. Not part of the
# test command: it runs for a bounded number of executions (and time) per target.
#
#   scripts/fuzz.sh                         every target, 1,000,000 executions each
#   scripts/fuzz.sh --runs 200000 dn csv    some targets, fewer executions
#   scripts/fuzz.sh --seconds 300           at most 300 s per target (default 1800)
#
# Seeds: Tests/Fuzz/Corpus/<target>/ (read, never written). What the fuzzer adds goes to
# .build-fuzz/corpus/<target>/, crashes to .build-fuzz/crashes/<target>/ (replay one with
# `usersync-fuzz TARGET FILE`, then make it a unit test). The first build takes several
# minutes: every module is compiled with the fuzzer's instrumentation.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000
seconds=1800
targets=()
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 64 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(dn filter csv config jsonpath cron)
scripts/install-deps.sh
source scripts/lib/build.sh

echo "== Building the fuzz targets with libFuzzer and AddressSanitizer (several minutes the first time)"
flags=(-c release --product usersync-fuzz --scratch-path .build-fuzz
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)
quiet_build "${flags[@]}"
fuzzer="$(swift build "${flags[@]}" --show-bin-path)/usersync-fuzz"

failed=0
summary=()
for target in "${targets[@]}"; do
  seeds="Tests/Fuzz/Corpus/$target"
  [[ -d "$seeds" ]] || { echo "fuzz: no target '$target' (no $seeds)" >&2; exit 64; }
  corpus=".build-fuzz/corpus/$target"
  crashes=".build-fuzz/crashes/$target/"
  mkdir -p "$corpus" "$crashes"
  log=".build-fuzz/$target.log"
  echo "== $target: up to $runs executions or $seconds s"
  status=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
  USERSYNC_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no \
    "$fuzzer" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$crashes" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  speed=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
  if ((status == 0)); then
    result="no crash"
  else
    result="FAULT (exit $status): $(ls "$crashes" | head -3 | tr '\n' ' ')— see $log"
    failed=1
  fi
  line="$target: ${execs:-?} executions, ${speed:-?}/s, coverage ${cov:-?} edges: $result"
  echo "   $line"
  summary+=("$line")
done
echo "== Summary"
printf '   %s\n' "${summary[@]}"
exit "$failed"
