#!/usr/bin/env bash
# Builds the hubspot-hitl component: dist/hubspot-hitl.wasm (release, size-minded `component` profile).
# Idempotent on a fresh machine: adds the wasm32-wasip2 target when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed: install Rust (https://rustup.rs) first"
if command -v rustup >/dev/null; then
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "build.sh: adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2 || die "could not add the wasm32-wasip2 target (rustup target add wasm32-wasip2)"
  fi
fi

cargo build --locked --profile component --target wasm32-wasip2 -p hubspot-hitl \
  || die "the component did not build (see the errors above)"

out=target/wasm32-wasip2/component/hubspot_hitl.wasm
[ -f "$out" ] || die "cargo finished but $out is missing"
mkdir -p dist
cp "$out" dist/hubspot-hitl.wasm
size=$(wc -c < dist/hubspot-hitl.wasm)
echo "build.sh: wrote dist/hubspot-hitl.wasm ($size bytes, $((size / 1024)) KiB)"
