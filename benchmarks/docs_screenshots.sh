#!/usr/bin/env bash
# Headless-browser screenshots of the built docs, opened from disk with the network off
# (--disable-background-networking; MathJax is served locally): the landing page, a guide page with
# math, the example gallery and the command-line reference.
#   sphinx-build -b html docs docs/_build/html && bash benchmarks/docs_screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/docs-screenshots
mkdir -p "$out"
profile=$(mktemp -d)
for page in index guide/08-kdm auto_examples/index cli; do
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,1600 --virtual-time-budget=5000 \
        --screenshot="$out/${page//\//_}.png" "file://$PWD/docs/_build/html/$page.html"
done
rm -rf "$profile"
