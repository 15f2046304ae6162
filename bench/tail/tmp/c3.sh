# alternate env configs of c2 rows in separate processes
for r in 1 2 3; do
  for cfg in "$@"; do echo "== $cfg"; env $cfg ROWS=wait,s0tok,s0cb npx tsx bench/tail/tmp/c2.ts 5 2>&1 | grep -v warn; done
done
