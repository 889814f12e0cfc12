#!/usr/bin/env bash
# Builds argus-server, argus-tui and argus-agent with the Swift runtime linked into them and installs them in
# PREFIX (default ~/.local/bin). They then need only the distribution's own libraries (ncursesw, libcurl, sqlite,
# libstdc++), so they run on a GPU box that has no Swift toolchain: copy them there (see scripts/package.sh).
#
#   scripts/install.sh [PREFIX]                         optimised build (what you want)
#   ARGUS_BUILD_CONFIG=debug scripts/install.sh PREFIX  same linking, unoptimised (what the tests check)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local/bin}"
config="${ARGUS_BUILD_CONFIG:-release}"
case "$config" in
  release | debug) ;;
  *) echo "install: ARGUS_BUILD_CONFIG must be release or debug, not '$config'." >&2; exit 2 ;;
esac
scripts/deps.sh
# --static-swift-stdlib alone does not link Foundation's own static libraries on Linux with this toolchain
# (SwiftPM's autolinking misses them, and gold wants them in dependency order), so link with lld, which takes
# archives in any order, and name them. Archives are only searched, so a library a binary does not use costs nothing.
# Its own scratch folder: objects compiled against the static runtime carry link entries that a normal build's
# links cannot satisfy, so the two must never share a build folder.
flags=(-c "$config" --scratch-path .build/static --static-swift-stdlib -Xswiftc -use-ld=lld)
for lib in Foundation FoundationEssentials FoundationInternationalization _FoundationICU _FoundationCollections \
  _FoundationCShims CoreFoundation swiftSynchronization swiftDispatch dispatch BlocksRuntime; do
  flags+=(-Xlinker "-l$lib")
done
products=(argus-server argus-tui argus-agent)
log=$(mktemp -t argus-install.XXXXXX)
trap 'rm -f "$log"' EXIT
for p in "${products[@]}"; do
  echo "install: building $p ($config, Swift runtime linked in)" >&2
  if ! swift build "${flags[@]}" --product "$p" >"$log" 2>&1; then
    grep -E "error" "$log" | head -20 >&2
    echo "install: the build of $p failed (above)." >&2
    exit 1
  fi
done
bin=$(swift build -c "$config" --scratch-path .build/static --show-bin-path)
mkdir -p "$prefix"
# A release install drops the symbol tables (a fifth of the size); a debug one keeps them for the debugger.
strip=(); [ "$config" = release ] && strip=(-s)
for p in "${products[@]}"; do install -m 0755 "${strip[@]}" "$bin/$p" "$prefix/$p"; done
echo "installed ${products[*]} $("$prefix/argus-tui" --version) in $prefix" >&2
case ":$PATH:" in
  *":$prefix:"*) ;;
  *) echo "install: $prefix is not on your PATH; add it, e.g. export PATH=\"$prefix:\$PATH\"" >&2 ;;
esac
