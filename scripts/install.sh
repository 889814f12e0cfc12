#!/usr/bin/env bash
# Builds argus-server, argus-tui and argus-agent with the Swift runtime linked into them and installs them in
# PREFIX (default ~/.local/bin). They then need only the distribution's own libraries (ncursesw, libcurl, sqlite,
# libstdc++), so they run on a GPU box that has no Swift toolchain: copy them there (see scripts/package.sh).
#
#   scripts/install.sh [PREFIX]                         optimised build (what you want)
#   ARGUS_BUILD_CONFIG=debug scripts/install.sh PREFIX  same linking, unoptimised (what the tests check)
#   ARGUS_KEEP_SYMBOLS=1 scripts/install.sh PREFIX      keeps the symbol tables (for a profiler; see hot-functions.sh)
#   ARGUS_INSTALL_BUILT=1 …                             the caller has just built everything (scripts/test.sh): only link
set -euo pipefail
config="${ARGUS_BUILD_CONFIG:-release}"
case "$config" in
  release | debug) ;;
  *) echo "install: ARGUS_BUILD_CONFIG must be release or debug, not '$config'." >&2; exit 2 ;;
esac
prefix="${1:-$HOME/.local/bin}"
# A relative PREFIX is relative to where you ran this, not to the repository; checked before anything is built.
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
if ! mkdir -p "$prefix" 2>/dev/null || [ ! -w "$prefix" ]; then
  echo "install: cannot install into $prefix (not a writable directory)." >&2
  exit 2
fi
cd "$(dirname "$0")/.."
scripts/deps.sh
source scripts/release-build.sh
flags_for "$config"
products=(argus-server argus-tui argus-agent)
log=$(mktemp -t argus-install.XXXXXX)
stage=$(mktemp -d -t argus-install.XXXXXX)
trap 'rm -rf "$log" "$stage"' EXIT
# An ordinary build (shared with the tests' debug build, or the benchmarks' release build: nothing is compiled twice) ...
# (Each `swift build --product` plans the build anew, ~6 s, even when there is nothing to do: skipped when the
# caller has just built everything.)
if [ "${ARGUS_INSTALL_BUILT:-0}" != 1 ]; then
  for p in "${products[@]}"; do
    echo "install: building $p ($config)" >&2
    if ! swift build "${build[@]}" --product "$p" >"$log" 2>&1; then
      grep -E "error" "$log" | head -20 >&2
      echo "install: the build of $p failed (above)." >&2
      exit 1
    fi
  done
fi
# ... then each binary linked once more from the same objects, with SwiftPM's own link command (from its build
# manifest) plus the static Swift runtime. --static-swift-stdlib alone does not link Foundation's own static
# libraries on Linux with this toolchain (SwiftPM's autolinking misses them, and gold wants them in dependency
# order), so link with lld, which takes archives in any order, and name them. Archives are only searched, so a
# library a binary does not use costs nothing. The toolchain's static linking exports every symbol of our own
# modules (-export-dynamic: 45,000 for argus-server), which the binaries never look up; --no-export-dynamic leaves
# them out (2.7 MB less resident in the server; a stripped static binary prints no stack on a crash either way).
static=(-static-stdlib -use-ld=lld -Xlinker --no-export-dynamic)
# A release build puts the functions the binaries run first, side by side (see scripts/release-build.sh). Names the
# file does not know (code changed since it was made) are skipped; they only end up with the rest.
if [ "$config" = release ] && [ -s scripts/hot-functions.txt ]; then
  static+=(-Xlinker "--symbol-ordering-file=$PWD/scripts/hot-functions.txt" -Xlinker --no-warn-symbol-ordering)
fi
for lib in Foundation FoundationEssentials FoundationInternationalization _FoundationICU _FoundationCollections \
  _FoundationCShims CoreFoundation swiftSynchronization swiftDispatch dispatch BlocksRuntime; do
  static+=(-Xlinker "-l$lib")
done
manifest=.build/$config.yaml
for p in "${products[@]}"; do
  echo "install: linking $p with the Swift runtime in it" >&2
  # The manifest names the link step "C.<product>-<triple>-<config>.exe"; its args are one JSON array.
  mapfile -d '' link < <(python3 - "$manifest" "$p" "$stage/$p" <<'PY'
import json, re, sys
manifest, product, out = sys.argv[1:]
text = open(manifest).read()
m = re.search(r'^  "C\.' + re.escape(product) + r'-[^"]*\.exe":\n(?:    .*\n)*?    args: (\[.*\])$', text, re.M)
if not m:
    sys.exit(f"install: no link step for {product} in {manifest}")
args = json.loads(m.group(1))
args[args.index("-o") + 1] = out
sys.stdout.write("\0".join(args) + "\0")
PY
  )
  if [ ${#link[@]} -eq 0 ] || ! "${link[@]}" "${static[@]}" >"$log" 2>&1; then
    head -20 "$log" >&2
    echo "install: linking $p with the Swift runtime failed (above)." >&2
    exit 1
  fi
done
# A release install drops the symbol tables (a fifth of the size); a debug one keeps them for the debugger.
strip=(); [ "$config" = release ] && [ "${ARGUS_KEEP_SYMBOLS:-0}" != 1 ] && strip=(-s)
for p in "${products[@]}"; do install -m 0755 "${strip[@]}" "$stage/$p" "$prefix/$p"; done
echo "installed ${products[*]} $("$prefix/argus-tui" --version) in $prefix" >&2
case ":$PATH:" in
  *":$prefix:"*) ;;
  *) echo "install: $prefix is not on your PATH; add it, e.g. export PATH=\"$prefix:\$PATH\"" >&2 ;;
esac
