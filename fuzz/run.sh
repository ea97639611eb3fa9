#!/usr/bin/env bash
# Short fuzz runs of every target (CI), or longer ones by hand:
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 30 s each, every target)
# Each target starts from its committed seeds (fuzz/seeds/<target>) plus what earlier runs
# found (fuzz/corpus/<target>, not committed). Exits 1 only when a run finds a crash (the
# input is left in fuzz/artifacts/<target>/); a machine without the nightly toolchain or
# cargo-fuzz (and no way to install it) skips fuzzing with a note.
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(rtmp_handshake rtmp_chunk flv_tags h264_hevc_sps aac_asc mp3_header ts_demux
        http_head api_command rtsp_rtp dtsc m3u8)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain (rustup toolchain install nightly); skipped"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz: cargo-fuzz could not be installed; skipped"
        exit 0
    fi
fi
if ! command -v c++ >/dev/null && ! command -v clang++ >/dev/null; then
    echo "fuzz: no C++ compiler for libFuzzer; skipped"
    exit 0
fi
if ! cargo +nightly fuzz build; then
    echo "fuzz: the fuzz targets do not build"
    exit 1
fi

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    echo "fuzz: $t for ${secs}s"
    if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^#[0-9]+.*DONE' "$log" |
            tr '\n' ' '
        echo
    else
        echo "fuzz: $t FAILED; input and log in fuzz/artifacts/$t/"
        tail -n 40 "$log"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}"
    exit 1
fi
