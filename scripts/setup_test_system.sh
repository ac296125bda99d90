#!/usr/bin/env bash
# The Debian packages only the tests use, installed if missing: headless Chromium and its driver (the
# report is checked in a browser), and the PostgreSQL server binaries (the orchestration benchmark runs
# Prefect on PostgreSQL too). scripts/test.sh runs this first; `w2w` itself needs neither.
set -euo pipefail
packages=""
command -v chromium >/dev/null && command -v chromedriver >/dev/null || packages="chromium chromium-driver"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages="$packages postgresql"
[ -n "$packages" ] || exit 0
if ! command -v apt-get >/dev/null; then
    echo "test setup: $packages missing and there is no apt-get; the tests that use them will say so" >&2
    exit 0
fi
as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "test setup: installing the system packages the tests use:$packages (once) ..." >&2
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq $packages >/dev/null
