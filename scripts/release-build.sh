# Sourced by scripts/install.sh and the benchmarks: the one way this repository builds release, so that they share
# .build/release (SwiftPM compiles everything again when the flags change).
#   release_build [swift build options…]
# Each function gets a section of its own (-function-sections), so that the link can put the functions a server or
# argus-tui runs side by side (scripts/hot-functions.txt, made by scripts/hot-functions.sh) and leave the rest on the
# disk: the kernel maps code around each page a process touches, and code that runs spread over all 29 MB of the
# server's text keeps most of it resident (bench/README.md, "the binary's own pages"). The debug build is untouched.
# SwiftPM does not compile the dependencies again when only these flags change: a .build/release made before them
# keeps their old objects until `rm -rf .build/*/release` (a new clone has none).
release_flags=(-c release -Xswiftc -Xfrontend -Xswiftc -function-sections)
release_build() { swift build "${release_flags[@]}" "$@"; }
# flags_for CONFIG: sets the array `build` to the `swift build` options of that configuration (release as above).
flags_for() { if [ "$1" = release ]; then build=("${release_flags[@]}"); else build=(-c "$1"); fi; }
