#!/usr/bin/env bash
# Builds the C example contracts (contracts-wasm/examples/*.c) into .wasm
# next to their sources, with Debian's clang and lld, no libc.
#
#   bash contracts-wasm/sdk/build.sh          rebuild the committed .wasm
#   bash contracts-wasm/sdk/build.sh --check  rebuild into a temporary
#                                             directory and fail if any byte
#                                             differs from the committed .wasm
#
# The build is reproducible: no debug info, no absolute paths, symbol names
# stripped, fixed CPU (mvp) and stack size. Needs: apt-get install clang lld.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
examples="$(cd "$here/../examples" && pwd)"
cc="${CC:-clang}"

if ! command -v "$cc" >/dev/null || ! command -v wasm-ld >/dev/null; then
    echo "build.sh: needs clang and wasm-ld (apt-get install -y clang lld)" >&2
    exit 2
fi

flags=(
    --target=wasm32 -mcpu=mvp -nostdlib -ffreestanding -O2
    -Wall -Wextra -Werror
    -I"../sdk"
    -Wl,--no-entry -Wl,--export-dynamic -Wl,--strip-all
    -Wl,-z,stack-size=16384
)

mode="build"
case "${1:-}" in
    --check) mode="check" ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

out_dir="$examples"
if [ "$mode" = "check" ]; then
    out_dir="$(mktemp -d)"
    trap 'rm -rf "$out_dir"' EXIT
fi

echo "build.sh: $("$cc" --version | head -n 1)"
status=0
cd "$examples"
for src in *.c; do
    name="${src%.c}"
    "$cc" "${flags[@]}" -o "$out_dir/$name.wasm" "$src"
    if [ "$mode" = "check" ]; then
        if cmp -s "$out_dir/$name.wasm" "$examples/$name.wasm"; then
            echo "build.sh: $name.wasm reproduced byte for byte"
        else
            echo "build.sh: $name.wasm differs from the committed one (rebuild with sdk/build.sh and commit)" >&2
            status=1
        fi
    else
        echo "build.sh: built examples/$name.wasm ($(wc -c <"$name.wasm") bytes)"
    fi
done
exit "$status"
