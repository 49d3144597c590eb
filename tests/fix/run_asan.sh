#!/usr/bin/env bash
# The FIX codec tests (fuzz included) against an AddressSanitizer build of ext/fixcodec, with
# Python's allocator switched to malloc so that ASan sees every buffer the parser reads.
# Not part of the default suite (about a minute); run it after changing the parser:
#     bash tests/fix/run_asan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ORDEX_ONLY=fixcodec python3 setup.py build_ext --inplace >/dev/null
gcc -shared -fPIC -O1 -g -fsanitize=address -fno-omit-frame-pointer \
    -I"$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    build/cython/ordex/ext/fixcodec.c -o "$out/fixcodec_asan.so"
cat > "$out/asanload.py" <<PY
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ordex.ext.fixcodec", "$out/fixcodec_asan.so")
mod = importlib.util.module_from_spec(spec)
sys.modules["ordex.ext.fixcodec"] = mod
spec.loader.exec_module(mod)
PY
PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
    PYTHONPATH="$out" python3 -m pytest -p asanload tests/fix -q "$@"
