#!/bin/sh
# Builds the predictor for WebAssembly with Debian's emscripten:
#   mobile/web/build.sh DIR          (DIR holds brass_predict.cc + brass_predict.h; writes
#                                     DIR/brass_predict.js + DIR/brass_predict.wasm)
# Single-threaded (BRASS_NO_THREADS): it runs in any page, with no cross-origin isolation
# needed for shared memory. Extra arguments go to em++ (e.g. -O3).
set -eu
dir=$1
shift
fns=_malloc,_free
for f in brass_predict_last_error brass_predict_build_info brass_model_load brass_model_free \
         brass_predictor_create brass_predictor_set_input brass_predictor_forward \
         brass_predictor_num_outputs brass_predictor_output_info brass_predictor_get_output \
         brass_predictor_free; do
  fns="$fns,_$f"
done
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"  # Debian's emcc optimizer needs node-acorn
cd "$dir"
em++ -std=c++17 -O2 -fexceptions -DBRASS_NO_THREADS brass_predict.cc -o brass_predict.js \
  -sMODULARIZE -sEXPORT_NAME=createBrassModule -sALLOW_MEMORY_GROWTH -sENVIRONMENT=web,node \
  -sEXPORTED_FUNCTIONS="$fns" \
  -sEXPORTED_RUNTIME_METHODS=cwrap,getValue,setValue,UTF8ToString,stringToUTF8,lengthBytesUTF8,HEAPU8 \
  "$@"
