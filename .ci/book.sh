#!/usr/bin/env bash
# The book: mdBook (from crates.io, installed here if missing) builds docs/, and every internal
# link of the book, the README and the changelog must resolve (.ci/check_links.py). The book's
# Rust code is pulled from examples (`{{#include}}`), which .ci/run runs. `cargo doc` must be
# warning-free.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mdbook > /dev/null; then
    # A debug build installs faster (1 min 25 s against 2 min 16 s here), and the book is small.
    cargo install mdbook --version 0.5.4 --no-default-features --locked --debug --quiet
fi
mdbook build docs
python3 .ci/check_links.py README.md CHANGELOG.md CONTRIBUTING.md docs/src
# The API documentation, which points into the book, stays free of warnings.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "book built into docs/book; links checked"
