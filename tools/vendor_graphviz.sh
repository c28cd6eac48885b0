#!/usr/bin/env bash
# Fetch @hpcc-js/wasm-graphviz from the npm registry and vendor its dist/index.js for the interactive
# diagram page (graphcore/diagram/vendor/). Prints the sha256 to record in vendor/README.md and tests/test_page.py.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-1.29.2}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q "@hpcc-js/wasm-graphviz@$version" >/dev/null && tar xzf ./*.tgz)
cp "$work/package/dist/index.js" graphcore/diagram/vendor/graphviz-wasm.js
cp "$work/package/LICENSE" graphcore/diagram/vendor/LICENSE-hpcc-js-wasm
sha256sum graphcore/diagram/vendor/graphviz-wasm.js
