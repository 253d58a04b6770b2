// One T3 decode step in five kernels per layer (fp32, the CFG pair as two rows, head_dim 64).
//
// Built ahead of time (nvcc -fatbin, sm_90 and sm_120 code; sm_120 runs on the GB10) and launched
// through the CUDA driver API from engines/cuda_kernels.py: no NVRTC, no Triton, no torch ABI.
// Per layer:
//   1. t3_qkv:      RMSNorm(x) then the fused q/k/v GEMV, rotary on q and k, q scaled, k and v
//                   written straight into the static cache at the step's position;
//   2. t3_attend:   q against the cache up to the position, softmax in fp32, times values;
//   3. t3_resid:    x += o(attn)                              (residual add after the dot, as addmm)
//   4. t3_gate_up:  RMSNorm(x) then gate and up rows together, silu(gate) * up
//   5. t3_resid:    x += down(act)
// and t3_head (final RMSNorm and the speech head) once per step.
//
// Arithmetic follows transformers' Llama eager path (norm, rotary, silu, softmax in fp32, each
// product and sum rounded on its own: __fmul_rn/__fadd_rn stop nvcc from contracting them into
// FMAs). Only the order of the dot products' sums differs from cuBLAS; the start-up check measures
// the result against the reference before the path is served.
//
// GEMV layout: a warp reduces 1024 contiguous weights of a row (8 float4 per lane, loaded before
// the block builds its input so the loads overlap the norm); rows of K = 4096 take four warps whose
// partial sums meet in shared memory in a fixed order. A block is four warps.

#include <cstdint>

#define WARPS 4
#define THREADS (WARPS * 32)
#define SEGMENT 1024
#define PER_LANE (SEGMENT / 4 / 32)  // float4 loads per lane per row
#define HEAD_DIM 64
#define HALF (HEAD_DIM / 2)

enum Mode { QKV = 0, SILU = 1, RESID = 2, STORE = 3 };

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float dot4(float4 w, float4 x, float acc) {
  acc = __fadd_rn(acc, __fmul_rn(w.x, x.x));
  acc = __fadd_rn(acc, __fmul_rn(w.y, x.y));
  acc = __fadd_rn(acc, __fmul_rn(w.z, x.z));
  return __fadd_rn(acc, __fmul_rn(w.w, x.w));
}

// Programmatic dependent launch (sm_90+): a kernel lets the next one start as soon as all of its
// blocks are running; the next one loads its weights (which no kernel writes) and only then waits
// for this one to finish before it reads what this one wrote. Without the launch attribute both
// are no-ops.
__device__ __forceinline__ void let_next_kernel_start() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void wait_for_previous_kernel() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// 1 / RMS of each input row, the block's four warps a quarter of the row each.
__device__ __forceinline__ void inverse_rms(const float* __restrict__ x, float eps, int k, float (&inv)[2]) {
  __shared__ float partial[WARPS][2];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  const int quarter = k / 4 / WARPS;
  for (int b = 0; b < 2; ++b) {
    float s = 0.f;
    for (int i = lane; i < quarter; i += 32) {
      const float4 v = x4[b * (k / 4) + warp * quarter + i];
      s = dot4(v, v, s);
    }
    s = warp_sum(s);
    if (lane == 0) partial[warp][b] = s;
  }
  __syncthreads();
  for (int b = 0; b < 2; ++b) {
    float s = 0.f;
    for (int w = 0; w < WARPS; ++w) s = __fadd_rn(s, partial[w][b]);
    inv[b] = rsqrtf(__fadd_rn(__fdiv_rn(s, (float)k), eps));
  }
}

// RMSNorm(x) * weight for one float4 of the input: (x * inv) * weight, as transformers rounds it.
__device__ __forceinline__ float4 normalised(float4 v, float inv, float4 g) {
  return make_float4(__fmul_rn(g.x, __fmul_rn(v.x, inv)), __fmul_rn(g.y, __fmul_rn(v.y, inv)),
                     __fmul_rn(g.z, __fmul_rn(v.z, inv)), __fmul_rn(g.w, __fmul_rn(v.w, inv)));
}

struct Rows {
  int first, second;  // weight rows of one item (second unused when R == 1)
};

template <int MODE>
__device__ __forceinline__ Rows item_rows(int item, int n) {
  if (MODE == QKV) {  // item -> (section, head, i): rows i and i + 32 of one head
    const int per_section = n / 6;  // n = 3 * hidden rows, hidden / 2 items per section
    const int section = item / per_section, rem = item % per_section;
    const int row = section * (n / 3) + (rem / HALF) * HEAD_DIM + rem % HALF;
    return {row, row + HALF};
  }
  if (MODE == SILU) return {item, item + n / 2};  // gate row j and up row j
  return {item, item};
}

struct Epilogue {
  float* out;              // QKV: q (2, hidden); SILU: act (2, n/2); RESID: x; STORE: logits
  float* cache;            // QKV: this layer's [k/v][pair][head][position][dim]
  const int64_t* position;  // QKV
  const float* cos_table;  // QKV: (max_len, 64)
  const float* sin_table;
  float q_scale;
  int max_len;
  int n;  // weight rows
};

template <int MODE>
__device__ void finish(const Epilogue& e, int item, const float (&dot)[2][2]) {
  if (MODE == RESID) {
    for (int b = 0; b < 2; ++b) e.out[b * e.n + item] = __fadd_rn(e.out[b * e.n + item], dot[0][b]);
  } else if (MODE == STORE) {
    for (int b = 0; b < 2; ++b) e.out[b * e.n + item] = dot[0][b];
  } else if (MODE == SILU) {
    const int inter = e.n / 2;
    for (int b = 0; b < 2; ++b) {
      const float g = dot[0][b];
      const float silu = __fdiv_rn(g, __fadd_rn(1.f, expf(-g)));
      e.out[b * inter + item] = __fmul_rn(silu, dot[1][b]);
    }
  } else {  // QKV
    const int hidden = e.n / 3, per_section = e.n / 6;
    const int section = item / per_section, rem = item % per_section;
    const int head = rem / HALF, i = rem % HALF, heads = hidden / HEAD_DIM;
    const int64_t pos = *e.position;
    const float c1 = e.cos_table[pos * HEAD_DIM + i], c2 = e.cos_table[pos * HEAD_DIM + i + HALF];
    const float s1 = e.sin_table[pos * HEAD_DIM + i], s2 = e.sin_table[pos * HEAD_DIM + i + HALF];
    for (int b = 0; b < 2; ++b) {
      float first = dot[0][b], second = dot[1][b];
      if (section < 2) {  // q*cos + rotate_half(q)*sin, rotate_half(q) = cat(-q2, q1)
        const float r1 = __fadd_rn(__fmul_rn(first, c1), __fmul_rn(-second, s1));
        const float r2 = __fadd_rn(__fmul_rn(second, c2), __fmul_rn(first, s2));
        first = r1;
        second = r2;
      }
      if (section == 0) {
        float* q = e.out + b * hidden + head * HEAD_DIM;
        q[i] = __fmul_rn(first, e.q_scale);
        q[i + HALF] = __fmul_rn(second, e.q_scale);
      } else {
        const int64_t slot = (((int64_t)(section - 1) * 2 + b) * heads + head) * e.max_len + pos;
        float* row = e.cache + slot * HEAD_DIM;
        row[i] = first;
        row[i + HALF] = second;
      }
    }
  }
}

// R rows per item (2 for QKV and SILU), k / 1024 warps per item.
template <int MODE, int R>
__device__ void gemv(const float* __restrict__ w, const float* __restrict__ x, const float* __restrict__ norm_w,
                     float eps, int k, int items, const Epilogue& e) {
  __shared__ float partials[WARPS][R][2];
  const int segments = k / SEGMENT, per_block = WARPS / segments;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int item = blockIdx.x * per_block + warp / segments, segment = warp % segments;
  const bool valid = item < items;
  const Rows rows = item_rows<MODE>(valid ? item : 0, e.n);
  const int row_index[2] = {rows.first, rows.second};
  float4 weights[R][PER_LANE];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float4* row = reinterpret_cast<const float4*>(w + (int64_t)row_index[r] * k) + segment * (SEGMENT / 4);
#pragma unroll
    for (int j = 0; j < PER_LANE; ++j) weights[r][j] = valid ? __ldcs(row + j * 32 + lane) : make_float4(0, 0, 0, 0);
  }
  let_next_kernel_start();
  wait_for_previous_kernel();
  float inv[2] = {1.f, 1.f};
  if (norm_w != nullptr) inverse_rms(x, eps, k, inv);
  const float4* first = reinterpret_cast<const float4*>(x) + segment * (SEGMENT / 4);
  const float4* second = first + k / 4;
  const float4* gain = reinterpret_cast<const float4*>(norm_w) + segment * (SEGMENT / 4);
  float acc[R][2];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = 0.f;
#pragma unroll
  for (int j = 0; j < PER_LANE; ++j) {
    float4 a = first[j * 32 + lane], b = second[j * 32 + lane];
    if (norm_w != nullptr) {
      const float4 g = __ldg(gain + j * 32 + lane);
      a = normalised(a, inv[0], g);
      b = normalised(b, inv[1], g);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      acc[r][0] = dot4(weights[r][j], a, acc[r][0]);
      acc[r][1] = dot4(weights[r][j], b, acc[r][1]);
    }
  }
  float dot[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
#pragma unroll
  for (int r = 0; r < R; ++r) {
    dot[r][0] = warp_sum(acc[r][0]);
    dot[r][1] = warp_sum(acc[r][1]);
  }
  if (segments > 1) {
    if (lane == 0)
      for (int r = 0; r < R; ++r)
        for (int b = 0; b < 2; ++b) partials[warp][r][b] = dot[r][b];
    __syncthreads();
    if (segment != 0) return;
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < 2; ++b) {
        float s = 0.f;
        for (int g = 0; g < segments; ++g) s = __fadd_rn(s, partials[warp + g][r][b]);
        dot[r][b] = s;
      }
  }
  if (lane == 0 && valid) finish<MODE>(e, item, dot);
}

extern "C" __global__ void __launch_bounds__(THREADS)
    t3_qkv(const float* w, const float* x, const float* norm_w, float eps, int hidden, float* q, float* cache,
           const int64_t* position, const float* cos_table, const float* sin_table, float q_scale, int max_len) {
  const Epilogue e{q, cache, position, cos_table, sin_table, q_scale, max_len, 3 * hidden};
  gemv<QKV, 2>(w, x, norm_w, eps, hidden, 3 * hidden / 2, e);
}

extern "C" __global__ void __launch_bounds__(THREADS)
    t3_gate_up(const float* w, const float* x, const float* norm_w, float eps, int hidden, int inter, float* act) {
  const Epilogue e{act, nullptr, nullptr, nullptr, nullptr, 1.f, 0, 2 * inter};
  gemv<SILU, 2>(w, x, norm_w, eps, hidden, inter, e);
}

// x (2, n) += x_in (2, k) @ w.T, w (n, k): the o and down projections.
extern "C" __global__ void __launch_bounds__(THREADS)
    t3_resid(const float* w, const float* x_in, int k, int n, float* x) {
  const Epilogue e{x, nullptr, nullptr, nullptr, nullptr, 1.f, 0, n};
  gemv<RESID, 1>(w, x_in, nullptr, 0.f, k, n, e);
}

// logits (2, n) = RMSNorm(x) @ w.T: the final norm and the speech head.
extern "C" __global__ void __launch_bounds__(THREADS)
    t3_head(const float* w, const float* x, const float* norm_w, float eps, int hidden, int n, float* logits) {
  const Epilogue e{logits, nullptr, nullptr, nullptr, nullptr, 1.f, 0, n};
  gemv<STORE, 1>(w, x, norm_w, eps, hidden, n, e);
}

// One block per (head, CFG row), 512 threads. Scores in shared memory (one float per position),
// softmax in fp32 as exp(s - max) / sum, then probabilities times values. Positions after the
// step's own are never read (the reference masks them to an exact zero).
#define ATTEND_THREADS 512
#define ATTEND_WARPS (ATTEND_THREADS / 32)
#define VALUE_GROUPS (ATTEND_THREADS / 16)  // 16 threads (one float4 each) per value row
#define PREFETCH 4  // passes of 128 keys loaded before waiting (512 positions)
extern "C" __global__ void __launch_bounds__(ATTEND_THREADS)
    t3_attend(const float* q, const float* cache, const int64_t* position, int heads, int max_len, float* out) {
  extern __shared__ float scores[];
  __shared__ float4 q4[HEAD_DIM / 4];
  __shared__ float reduce[ATTEND_WARPS];
  __shared__ float4 weighted[VALUE_GROUPS][HEAD_DIM / 4];
  const int head = blockIdx.x, b = blockIdx.y, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int n = (int)(*position) + 1;  // written before the step's first layer
  const float* keys = cache + ((int64_t)(0 * 2 + b) * heads + head) * max_len * HEAD_DIM;
  const float4* values = reinterpret_cast<const float4*>(cache + ((int64_t)(1 * 2 + b) * heads + head) * max_len * HEAD_DIM);
  // Four lanes per position, 16 dims each: a warp reads 8 whole key rows per load. Keys of earlier
  // steps are loaded before waiting for the q/k/v kernel; this step's own key after it.
  const int group = tid >> 2, part = tid & 3;
  float4 early[PREFETCH][4];
#pragma unroll
  for (int u = 0; u < PREFETCH; ++u) {
    const int j = u * (ATTEND_THREADS / 4) + group;
    const float4* k4 = reinterpret_cast<const float4*>(keys + (int64_t)j * HEAD_DIM) + part * 4;
#pragma unroll
    for (int t = 0; t < 4; ++t) early[u][t] = j < n - 1 ? k4[t] : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  let_next_kernel_start();
  wait_for_previous_kernel();
  if (tid < HEAD_DIM / 4) q4[tid] = reinterpret_cast<const float4*>(q + (b * heads + head) * HEAD_DIM)[tid];
  __syncthreads();
  for (int base = 0; base < n; base += ATTEND_THREADS / 4) {
    const int j = base + group, u = base / (ATTEND_THREADS / 4);
    float acc = 0.f;
    if (j < n) {
      const float4* k4 = reinterpret_cast<const float4*>(keys + (int64_t)j * HEAD_DIM) + part * 4;
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        float4 key;
        if (u < PREFETCH && j < n - 1) {
#pragma unroll
          for (int v = 0; v < PREFETCH; ++v)
            if (v == u) key = early[v][t];  // constant register indices
        } else {
          key = k4[t];
        }
        acc = dot4(key, q4[part * 4 + t], acc);
      }
    }
    acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, 1));
    acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, 2));
    if (j < n && part == 0) scores[j] = acc;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int j = tid; j < n; j += ATTEND_THREADS) m = fmaxf(m, scores[j]);
  m = warp_max(m);
  if (lane == 0) reduce[warp] = m;
  __syncthreads();
  m = reduce[0];
  for (int w = 1; w < ATTEND_WARPS; ++w) m = fmaxf(m, reduce[w]);
  __syncthreads();
  float sum = 0.f;
  for (int j = tid; j < n; j += ATTEND_THREADS) {
    const float e = expf(scores[j] - m);
    scores[j] = e;
    sum = __fadd_rn(sum, e);
  }
  sum = warp_sum(sum);
  if (lane == 0) reduce[warp] = sum;
  __syncthreads();
  sum = 0.f;
  for (int w = 0; w < ATTEND_WARPS; ++w) sum = __fadd_rn(sum, reduce[w]);
  for (int j = tid; j < n; j += ATTEND_THREADS) scores[j] = __fdiv_rn(scores[j], sum);
  __syncthreads();
  const int column = tid & 15, row_group = tid >> 4;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int base = row_group; base < n; base += 4 * VALUE_GROUPS) {
    float4 v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {  // four rows' loads in flight before the first multiply
      const int j = base + u * VALUE_GROUPS;
      v[u] = j < n ? values[(int64_t)j * (HEAD_DIM / 4) + column] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int j = base + u * VALUE_GROUPS;
      if (j < n) {
        const float p = scores[j];
        acc.x = __fadd_rn(acc.x, __fmul_rn(p, v[u].x));
        acc.y = __fadd_rn(acc.y, __fmul_rn(p, v[u].y));
        acc.z = __fadd_rn(acc.z, __fmul_rn(p, v[u].z));
        acc.w = __fadd_rn(acc.w, __fmul_rn(p, v[u].w));
      }
    }
  }
  weighted[row_group][column] = acc;
  __syncthreads();
  if (tid < HEAD_DIM) {
    const float* all = reinterpret_cast<const float*>(weighted);
    float total = 0.f;
    for (int g = 0; g < VALUE_GROUPS; ++g) total = __fadd_rn(total, all[g * HEAD_DIM + tid]);
    out[(b * heads + head) * HEAD_DIM + tid] = total;
  }
}
