#!/bin/bash
# Paired throughput A/B between checkouts, alternating processes (docs/performance.md, 2026-12-06).
#   bench/tail/throughput-ab.sh REPS NAME=DIR[:TRACE] ...   (TRACE: flight | file, recording on)
# Each process runs bench/tail/throughput-one.mts in DIR against DIR's src/ and prints JSON.
reps=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
for r in $(seq 1 "$reps"); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; dir=${rest%%:*}; trace=""; [ "$rest" != "$dir" ] && trace=${rest#*:}
    o=$(cd "$dir" && TRACE=$trace timeout 120 npx tsx "$here/throughput-one.mts" 2>/dev/null | tail -1)
    echo "$r $name $o"
    rm -f /tmp/tp-*.trace
  done
done
