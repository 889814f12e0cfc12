#!/usr/bin/env bash
# bench/idle.sh [starts=3] [DIR…]: the idle argus-server's memory as users run it (the binaries scripts/install.sh
# installs). Each DIR's argus-server is started on an empty data dir and read 6 s later: RSS, private dirty (what
# only this process wrote: heap, stacks, relocated data) and the binary's own file pages (clean, shared with the page
# cache). STARTS starts per DIR, the DIRs taking turns, so two builds are compared under the same conditions.
# Without a DIR, this checkout is installed (release) into a temporary one first.
set -euo pipefail
starts=${1:-3}
shift || true
[[ "$starts" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/idle.sh [STARTS=3] [DIR…] (STARTS a whole number, at least 1)" >&2; exit 2; }
# DIRs are relative to where this was run, as scripts/install.sh's PREFIX is.
dirs=()
for d in "$@"; do
  case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
  [[ " ${dirs[*]} " == *" $d "* ]] || dirs+=("$d")  # each once: its figures are kept by its name
done
cd "$(dirname "$0")/.."
tmp=$(mktemp -d -t argus-idle.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
if [ ${#dirs[@]} -eq 0 ]; then
  scripts/install.sh "$tmp/bin" >/dev/null
  dirs=("$tmp/bin")
fi
for d in "${dirs[@]}"; do
  [ -x "$d/argus-server" ] || { echo "idle: no argus-server in $d" >&2; exit 2; }
done

# kb PID FIELD: a field of /proc/PID/smaps_rollup, in kB.
kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup"; }
# binary_kb PID EXE: the resident pages of the mappings of the binary itself, in kB.
binary_kb() {
  awk -v exe="$2" 'NF >= 6 && $2 ~ /^[r-][w-][x-][ps]$/ {mine = ($6 == exe)} mine && $1 == "Rss:" {t += $2} END {print t + 0}' \
    "/proc/$1/smaps"
}

declare -A rss dirty own
for round in $(seq "$starts"); do
  for d in "${dirs[@]}"; do
    data="$tmp/data-$round-$(echo "$d" | md5sum | cut -c1-8)"
    mkdir -p "$data"
    exe=$(readlink -f "$d/argus-server")
    "$exe" serve --port 0 --data-dir "$data" >"$tmp/out" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 200); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.05; done
    grep -q listening "$tmp/out" || { echo "idle: $exe did not start:" >&2; cat "$tmp/log" >&2; exit 1; }
    sleep 6
    rss[$d]+="$(kb $pid Rss) "
    dirty[$d]+="$(kb $pid Private_Dirty) "
    own[$d]+="$(binary_kb $pid "$exe") "
    kill $pid
    wait $pid 2>/dev/null || true
    pid=
  done
done

# range "kB…": min–max in MB.
range() { tr ' ' '\n' <<<"$1" | awk 'NF {v = $1 / 1024; if (n++ == 0 || v < lo) lo = v; if (v > hi) hi = v} END {printf "%.1f–%.1f", lo, hi}'; }
printf '%-40s %14s %16s %16s %10s\n' "argus-server (idle, ${starts} starts)" "RSS MB" "private dirty MB" "binary's own MB" "binary MB"
for d in "${dirs[@]}"; do
  printf '%-40s %14s %16s %16s %10s\n' "$d" "$(range "${rss[$d]}")" "$(range "${dirty[$d]}")" "$(range "${own[$d]}")" \
    "$(du -m "$(readlink -f "$d/argus-server")" | cut -f1)"
done
echo "target: RSS < 30 MB idle"
