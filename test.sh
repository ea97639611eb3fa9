#!/usr/bin/env bash
# Runs Eddy's whole test suite. Installs the outside programs the tests use (curl now, ffmpeg
# once the live path lands) from Debian's packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")"

need=()
for tool in curl; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} from Debian's packages"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

cargo test --all-targets "$@"
