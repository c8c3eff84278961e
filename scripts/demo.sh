#!/usr/bin/env bash
# Set up, then replay a shipped fixture call (a customer who yells) and print its alerts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
tonewatch replay fixtures/customer_yelling.flac --fast --no-transcribe --log out/customer_yelling.jsonl "$@"
echo "alert log: out/customer_yelling.jsonl"
