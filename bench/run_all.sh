#!/usr/bin/env bash
# Run every benchmark in bench/ at its documented size, then rewrite the generated summary table
# in bench/README.md from this run's RESULT lines (bench/summary.py), so no figure is carried over.
#
#   bench/run_all.sh                 # documented sizes (hours on a shared 2-core VM); rewrites README
#   bench/run_all.sh --quick         # toy sizes, minutes: a smoke run; README untouched
#   bench/run_all.sh --only p2_full_sync,seed_rate [--quick]
#   bench/run_all.sh --list          # the benchmarks and their arguments
#
# Logs: $BENCH_OUT (default /tmp/hybridsync-bench-runs)/<UTC time>-<mode>/<bench>.log, status.tsv,
# summary.md. --readme / --no-readme force or skip the README rewrite. Exit status: 1 if any
# benchmark failed to run (a MISS is a figure, not a failure).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODE=full
ONLY=""
README=""
LIST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --only) ONLY=",$2,"; shift ;;
    --readme) README=yes ;;
    --no-readme) README=no ;;
    --list) LIST=1 ;;
    *) echo "run_all.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$README" ] && { [ "$MODE" = full ] && [ -z "$ONLY" ] && README=yes || README=no; }

# name | documented (full) arguments | quick arguments | timeout seconds (full)
BENCHES=(
  "planner_bench|--n 100000|--n 2000 --no-ldap|3600"
  "statestore_bench|--sizes 20000,100000|--sizes 500,1000 --units 20|3600"
  "scim_write|--users 300 --rounds 6 --group-size 50000|--users 30 --rounds 2 --group-size 500|3600"
  "ad_read||--bulk 0|3600"
  "seed_rate|--offline-users 20000 --skip-restore|--offline-users 300 --ldap-users 10 --skip-provision --skip-restore|3600"
  "p1_latency|--rounds 9|--rounds 1|3600"
  "p2_full_sync|--size 20000 --groups 200|--size 300 --groups 10|7200"
  "p2_full_sync_pinned|--size 20000 --groups 200 --pin-server|--size 300 --groups 10 --pin-server|7200"
  "p3_delta_cost|--only memory --size 100000 --small 10000|--only memory --size 1000 --small 200 --rounds 2|7200"
  "p3_delta_cost_samba|--only samba --size 20000 --small 2000|--only samba --size 300 --small 100 --rounds 2|7200"
  "p5_memory|--size 100000 --small 10000|--size 1000 --small 200|7200"
  "p5_memory_churn|--churn 10000|--churn 300|7200"
  "p7_resume|--size 1000 --page 100 --fractions 0.2,0.5,0.8|--size 100 --page 20 --fractions 0.5|3600"
  "engine_scale|--sizes 10000,100000|--sizes 300,1000|7200"
  "engine_latency|--changes 50|--changes 5|3600"
  "entra_write|--users 10000 --scale 1|--users 200 --scale 10 --skip-quota|3600"
  "pg_store_bench|--objects 5000 --units 300 --kills 20 --hangs 5|--objects 300 --units 20 --kills 2 --hangs 1|3600"
  "pg_engine_bench|--objects 5000|--objects 300|3600"
  "pg_engine_bench_scim|--objects 5000 --target scim|--objects 300 --target scim|3600"
  "pg_takeover_bench|--kills 20|--kills 2 --settle 1|3600"
  "crash_soak|--kills 100 --users 200|--kills 2 --users 15|7200"
)

if [ "$LIST" = 1 ]; then
  for row in "${BENCHES[@]}"; do IFS='|' read -r name full quick _ <<<"$row"; printf '%-20s full: %s\n%-20s quick: %s\n' "$name" "$full" "" "$quick"; done
  exit 0
fi

OUT=${BENCH_OUT:-/tmp/hybridsync-bench-runs}/$(date -u +%Y%m%dT%H%M%SZ)-$MODE
mkdir -p "$OUT"
loadavg() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'; }
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), mode $MODE, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load $(loadavg) at start" >"$OUT/run.txt"
: >"$OUT/status.tsv"
failed=0
for row in "${BENCHES[@]}"; do
  IFS='|' read -r name full quick limit <<<"$row"
  [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]] && continue
  args=$full; [ "$MODE" = quick ] && { args=$quick; limit=900; }
  script=${name%_samba}; script=${script%_churn}; script=${script%_scim}; script=${script%_pinned}  # one script, two rows: p3 on Samba, P5 after churn, PG with a real target, P2 with the target on its own core
  before=$(loadavg); started=$(date +%s)
  echo "== $name $args (load $before)"
  # shellcheck disable=SC2086 # args are word lists on purpose
  timeout "$limit" "$PY" "bench/$script.py" $args >"$OUT/$name.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - started ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$took" "$before" "$(loadavg)" "$args" >>"$OUT/status.tsv"
  grep '^RESULT:' "$OUT/$name.log" || echo "   (no RESULT line; exit $rc; log $OUT/$name.log)"
  # 0 = all PASS, 1 = a MISS (the scripts' convention); anything else did not run through
  if [ "$rc" -gt 1 ] || { [ "$rc" -ne 0 ] && ! grep -q '^RESULT:' "$OUT/$name.log"; }; then failed=1; fi
done
echo "$(cat "$OUT/run.txt"); load $(loadavg) at end" >"$OUT/run.txt"
if [ "$README" = yes ]; then
  "$PY" bench/summary.py "$OUT" bench/README.md >"$OUT/summary.md"
else
  "$PY" bench/summary.py "$OUT" >"$OUT/summary.md"
fi
echo "summary: $OUT/summary.md$([ "$README" = yes ] && echo ' (and bench/README.md)')"
exit $failed
