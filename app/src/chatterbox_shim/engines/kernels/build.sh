#!/bin/sh
# Build t3_decode.fatbin (the T3 decode kernels) beside this script, or at $1. The one place the
# nvcc flags are written: `make kernels` here and the image's kernels stage both run this.
# sm_90 SASS (Hopper: the GPU machine), sm_120 SASS and compute_120 PTX (Blackwell; the GB10 is
# sm_121 and runs sm_120 code). NVCC picks the compiler (default: nvcc on PATH).
set -eu
here=$(dirname "$0")
"${NVCC:-nvcc}" -O3 -fatbin \
  -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_120,code='[sm_120,compute_120]' \
  "$here/t3_decode.cu" -o "${1:-$here/t3_decode.fatbin}"
