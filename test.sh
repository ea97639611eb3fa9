#!/usr/bin/env bash
# Runs Eddy's whole test suite against real peers. Installs what the tests use when missing:
# curl, ffmpeg (ffmpeg + ffprobe), Chromium, Node.js and nginx (a cache in front of Eddy) from
# Debian's packages; a newer ffmpeg that
# writes Enhanced RTMP (HEVC in FLV) from the imageio-ffmpeg wheel on PyPI; prometheus_client (a
# real Prometheus text parser) from PyPI; playwright-core (to drive Chromium) from npm.
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import imageio_ffmpeg' >/dev/null 2>&1; then
  echo "test.sh: installing imageio-ffmpeg (an ffmpeg with Enhanced RTMP) from PyPI"
  python3 -m pip install --quiet imageio-ffmpeg 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages imageio-ffmpeg
fi
if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
  echo "test.sh: installing prometheus_client (parses the Prometheus text) from PyPI"
  python3 -m pip install --quiet prometheus_client 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages prometheus_client
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "test.sh: installing playwright-core (drives Debian's Chromium) from npm"
  (cd tests/browser && npm install --silent)
fi
EDDY_FFMPEG_ENHANCED="$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')"
export EDDY_FFMPEG_ENHANCED

cargo test --all-targets "$@"
