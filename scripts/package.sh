#!/usr/bin/env bash
# Writes dist/argus-VERSION-linux-ARCH.tar.gz: the three binaries with the Swift runtime linked in, to copy to a
# GPU box that has no Swift toolchain. There they need only the distribution's libstdc++6, plus libcurl4 (argus-tui,
# argus-agent), libncursesw6 (argus-tui) and libsqlite3-0 (argus-server), which a Debian or Ubuntu machine normally has.
#   scripts/package.sh [OUT_DIR]        (default ./dist in the repository; a relative OUT_DIR is relative to where you are)
set -euo pipefail
out="${1:-$(dirname "$0")/../dist}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$(dirname "$0")/.."
stage=$(mktemp -d -t argus-package.XXXXXX)
trap 'rm -rf "$stage"' EXIT
scripts/install.sh "$stage/bin"
version=$("$stage/bin/argus-tui" --version)
name="argus-$version-linux-$(uname -m)"
mkdir -p "$stage/$name" "$out"
mv "$stage/bin" "$stage/$name/bin"
cat >"$stage/$name/INSTALL.txt" <<TXT
Argus $version for Linux ($(uname -m)), built on $(. /etc/os-release && echo "$PRETTY_NAME").

Copy bin/ anywhere on PATH, e.g.:   mkdir -p ~/.local/bin && cp bin/* ~/.local/bin/
The binaries carry the Swift runtime; they need only the distribution's libraries:
  all three: libstdc++6   argus-tui: also libcurl4 libncursesw6   argus-agent: also libcurl4   argus-server: also libsqlite3-0
Check with:  ldd bin/argus-tui | grep 'not found'   (prints nothing when all is there)
Then put your token in a file only you can read, and pass it in the environment, not on the command
line (every local user sees command lines in ps):
  umask 077 && mkdir -p ~/.config/argus && cat > ~/.config/argus/token     # paste the token, then Ctrl-D
  ARGUS_TOKEN=\$(cat ~/.config/argus/token) argus-tui --url http://SERVER:8000
TXT
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
