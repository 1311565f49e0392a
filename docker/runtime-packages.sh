#!/bin/sh
# Prints the Debian packages (one a line) that provide the shared libraries BINARY links, other than libc6 which
# every Debian image has. Used by the Dockerfiles' build stage so the runtime stage installs only those.
#   runtime-packages.sh BINARY
set -eu
bin=$1
ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    real=$(readlink -f "$lib")
    # On merged-/usr systems a library may be registered under /lib or /usr/lib: try both spellings.
    for p in "$lib" "$real" "${real#/usr}" "/usr${real}"; do
        if pkg=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1); then
            [ -n "$pkg" ] && { echo "$pkg"; break; }
        fi
    done
done | grep -v '^libc6$' | sort -u
