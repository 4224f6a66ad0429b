#!/usr/bin/env bash
# Runs every numbered e2e script (the real chat in tmux against `baton mock`);
# see scripts/lib/run-suite.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../lib/run-suite.sh" "$here" e2e
