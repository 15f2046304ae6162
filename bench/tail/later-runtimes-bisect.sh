#!/bin/bash
# `git bisect run` scorer for a later runtime's sequential tail (docs/performance.md, thirteenth
# session): the checkout under test (the working directory) and a reference checkout REF (a
# known-good commit, with node_modules and native/*.node in place) alternate three times in the
# same minutes; the score is the median p99 of the second and third runtimes
# (later-runtimes.mts) minus the reference's. Good under 3 µs, bad over 8, skipped between: the
# host's phases move both sides alike, a commit's own figure alone does not bisect.
#   git bisect start BAD GOOD && REF=/path/to/good git bisect run /abs/path/bench/tail/later-runtimes-bisect.sh
here=$(cd "$(dirname "$0")" && pwd)
tool=$(mktemp "$PWD/.later-runtimes-XXXXXX.mts")
cp "$here/later-runtimes.mts" "$tool"
trap 'rm -f "$tool" "$REF/$(basename "$tool")"' EXIT
cp "$tool" "$REF/"
later() { (cd "$1" && timeout 150 npx tsx "$(basename "$tool")" 2>/dev/null | tail -1 | python3 -c "import sys,json; d=json.load(sys.stdin); print(d[1][1], d[2][1])"); }
cv=""; rv=""
for k in 1 2 3; do
  rv="$rv $(later "$REF")" || exit 125
  c=$(later "$PWD") || exit 125
  [ -z "$c" ] && exit 125
  cv="$cv $c"
done
python3 - "$cv" "$rv" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
d = statistics.median(c) - statistics.median(r)
print(f"later runtimes' p99: {statistics.median(c):.1f} against the reference's {statistics.median(r):.1f} (+{d:.1f} µs)")
sys.exit(0 if d < 3 else 1 if d > 8 else 125)
PY
