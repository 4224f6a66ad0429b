#!/usr/bin/env bash
# Runs every numbered acceptance script (the failover scenarios); see scripts/lib/run-suite.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../lib/run-suite.sh" "$here" acceptance
