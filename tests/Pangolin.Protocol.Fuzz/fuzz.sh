#!/usr/bin/env bash
# Fuzzes one target with AFL++ (Debian's afl++) through SharpFuzz, for a bounded time.
#   tests/Pangolin.Protocol.Fuzz/fuzz.sh frame 600     # target (frame|gzip|target), seconds
# Findings go to /tmp/pangolin-fuzz-<target>/findings; add a crashing input to corpus/<target>/ (the test suite
# replays that folder) together with its fix.
set -euo pipefail
TARGET=${1:-frame}
SECONDS_TO_RUN=${2:-600}
HERE=$(cd "$(dirname "$0")" && pwd)
W=/tmp/pangolin-fuzz-$TARGET
mkdir -p "$W"
command -v afl-fuzz >/dev/null || { echo "install afl++ (apt-get install afl++)"; exit 1; }
[ -x "$W/tools/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --tool-path "$W/tools" >/dev/null
rm -rf "$W/out" "$W/findings"
dotnet publish "$HERE" -c Release -o "$W/out" --nologo -v q
# Instrument the library under test (not the harness) for AFL's coverage map.
"$W/tools/sharpfuzz" "$W/out/Pangolin.Protocol.dll"
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1
timeout --preserve-status "$SECONDS_TO_RUN" afl-fuzz -i "$HERE/corpus/$TARGET" -o "$W/findings" -t 10000 -m none \
  -- dotnet "$W/out/Pangolin.Protocol.Fuzz.dll" "$TARGET" || true
echo "crashes: $(ls "$W/findings/default/crashes" 2>/dev/null | grep -vc README || true)"
