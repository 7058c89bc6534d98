#!/usr/bin/env bash
# Figures of issue 2 (not a test): a generated 10,000-command script applied
# with `netsh -f` in batch mode, and the cold start of `show store`.
# Usage: bench/script.sh OUTDIR   (needs bin/netsh: make build)
set -euo pipefail
out=${1:-bench/out}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
script="$tmp/big.netsh"
{
  echo "pushd ipsec static"
  echo "set batch mode=enable"
  for i in $(seq 1 2000); do echo "add filterlist name=FL$i description=\"list $i\""; done
  for i in $(seq 1 5000); do
    l=$(( (i % 2000) + 1 )); a=$(( i % 250 )); b=$(( i % 200 ))
    echo "add filter filterlist=FL$l srcaddr=10.$a.$b.0 dstaddr=me srcmask=24 protocol=TCP dstport=$(( 1024 + i % 60000 )) description=f$i"
  done
  for i in $(seq 1 500); do echo "add policy name=P$i mmsec=\"3DES-SHA1-3 3DES-SHA1-2\""; done
  for i in $(seq 1 2496); do
    p=$(( (i % 500) + 1 )); l=$(( (i % 2000) + 1 ))
    echo "add rule name=R$i policy=P$p filterlist=FL$l filteraction=Permit psk=secret$i"
  done
  echo "set batch mode=disable"
  echo "popd"
} > "$script"
lines=$(grep -cv '^#' "$script")
python3 - "$tmp" "$script" "$lines" <<'PY'
import os, statistics, subprocess, sys, time
tmp, script, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
netsh = os.path.abspath("bin/netsh")
runs = []
for r in range(3):
    store = os.path.join(tmp, f"store{r}")
    t = time.perf_counter()
    p = subprocess.run([netsh, "--store", store, "-f", script], capture_output=True, text=True)
    runs.append(time.perf_counter() - t)
    if p.returncode != 0:
        print(p.stdout[-2000:], p.stderr[-2000:])
        sys.exit("script run failed")
print(f"script: {lines} commands with -f in batch mode: median {statistics.median(runs)*1000:.0f} ms over {len(runs)} runs (goal < 1000 ms)")
cold = []
store = os.path.join(tmp, "store0")
for r in range(50):
    t = time.perf_counter()
    subprocess.run([netsh, "--store", store, "ipsec", "static", "show", "store"], capture_output=True, check=True)
    cold.append(time.perf_counter() - t)
print(f"cold start: bin/netsh ipsec static show store: median {statistics.median(cold)*1000:.1f} ms, min {min(cold)*1000:.1f} ms over {len(cold)} runs (goal < 20 ms)")
PY
