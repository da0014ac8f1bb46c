#include "kernels.h"

#include <stdlib.h>
#include <string.h>

// 16 images per step: one AVX-512 register, two AVX2 or four SSE ones.
#define LANES 16
// Outputs per step: 8 x 2 accumulators plus the inputs fit AVX-512's 32 registers;
// with 16 registers (AVX2) 6 x 1 do (each vector is two registers there).
#define BLOCK 8
#define NARROW_BLOCK 6
typedef float vf __attribute__((vector_size(4 * LANES), aligned(4)));
typedef int32_t vi __attribute__((vector_size(4 * LANES), aligned(4)));
typedef uint8_t vb __attribute__((vector_size(LANES), aligned(1)));

#define INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__)
#define CLONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Vector helpers are macros: a function taking or returning a 64-byte vector
// would have no ABI in the AVX2 and baseline builds.
// n lanes at p; lanes past n read as zero. A constant n = LANES compiles to one vector load.
#define load(p, n) ({ vf v_ = {0}; memcpy(&v_, (p), (size_t)(n) * sizeof(float)); v_; })
#define store(p, v, n) do { vf v_ = (v); memcpy((p), &v_, (size_t)(n) * sizeof(float)); } while (0)
// Lane sum in a fixed order: the same bits every run.
#define lane_sum(v) ({ vf v_ = (v); float s_ = 0; for (int i_ = 0; i_ < LANES; i_++) s_ += v_[i_]; s_; })

// Whether the CPU has AVX-512's 32 vector registers: the register blocks are sized by it
// (the sums do not depend on it: every accumulator adds its terms in the same order).
static int wide = -1;
static int wide_registers(void) {
#if defined(__x86_64__)
    if (wide < 0) { __builtin_cpu_init(); wide = __builtin_cpu_supports("avx512f") ? 1 : 0; }
#else
    if (wide < 0) wide = 1;
#endif
    return wide;
}

void ps_set_wide_registers(int on) { wide = on; }

static void *checked_malloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) abort();  // as Swift does when an allocation fails
    return p;
}

// Gathered multiply-accumulate, the inner loop of the forward pass and of the input gradient, for
// NV vectors of lanes (n in the last): out[j * out_stride + lane] =
// init[j] + sum_t w[woff[t] + j] * src[off[t] + lane], j < NJ. Two vectors share each weight load.
INLINE void gmac(const float *src, const int64_t *off, const float *w, const int64_t *woff, int64_t taps,
                 const float *init, float *out, int64_t out_stride, const int NJ, const int NV, const int n) {
    vf acc[2][BLOCK];
    for (int q = 0; q < NV; q++)
        for (int j = 0; j < NJ; j++) acc[q][j] = (vf){0} + (init ? init[j] : 0.0f);
    for (int64_t t = 0; t < taps; t++) {
        vf v[2];
        for (int q = 0; q < NV; q++) v[q] = load(src + off[t] + q * LANES, q == NV - 1 ? n : LANES);
        const float *wt = w + woff[t];
        for (int j = 0; j < NJ; j++)
            for (int q = 0; q < NV; q++) acc[q][j] += wt[j] * v[q];
    }
    for (int q = 0; q < NV; q++)
        for (int j = 0; j < NJ; j++) store(out + j * out_stride + q * LANES, acc[q][j], q == NV - 1 ? n : LANES);
}

// gmac over all `batch` lanes, with NJ and the lane counts as compile-time constants.
INLINE void gmac_lanes(const float *src, const int64_t *off, const float *w, const int64_t *woff, int64_t taps,
                       const float *init, float *out, int64_t out_stride, int64_t nj, int64_t batch, int wide) {
    for (int64_t b0 = 0; b0 < batch; ) {
        const int64_t left = batch - b0;
#define CASE(J) \
    case J: \
        if (wide && left >= 2 * LANES) gmac(src + b0, off, w, woff, taps, init, out + b0, out_stride, J, 2, LANES); \
        else if (left >= LANES) gmac(src + b0, off, w, woff, taps, init, out + b0, out_stride, J, 1, LANES); \
        else gmac(src + b0, off, w, woff, taps, init, out + b0, out_stride, J, 1, (int)left); \
        break;
        switch (nj) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) }
#undef CASE
        b0 += wide && left >= 2 * LANES ? 2 * LANES : LANES;
    }
}

// y[o, oy, ox, b] = bias[o] + sum_{c,ki,kj} weight[o, c, ki, kj] x[c, oy*stride - pad + ki, ox*stride - pad + kj, b]
CLONED void ps_conv_forward(const ps_conv_shape *s, const float *x, const float *weight, const float *bias, float *y) {
    const int64_t B = s->batch, C = s->inChannels, H = s->height, W = s->width, O = s->outChannels;
    const int64_t OH = s->outHeight, OW = s->outWidth, K = s->kernel, taps = C * K * K;
    const int wide = wide_registers(), block = wide ? BLOCK : NARROW_BLOCK;
    float *wt = checked_malloc((size_t)(taps * O) * sizeof(float));  // [tap, o]: a step's weights side by side
    int64_t *off = checked_malloc((size_t)taps * sizeof(int64_t)), *woff = checked_malloc((size_t)taps * sizeof(int64_t));
    for (int64_t o = 0; o < O; o++)
        for (int64_t t = 0; t < taps; t++) wt[t * O + o] = weight[o * taps + t];
    for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
            int64_t n = 0;  // the taps inside the image
            for (int64_t c = 0; c < C; c++)
                for (int64_t ki = 0; ki < K; ki++) {
                    const int64_t iy = oy * s->stride - s->padding + ki;
                    if (iy < 0 || iy >= H) continue;
                    for (int64_t kj = 0; kj < K; kj++) {
                        const int64_t ix = ox * s->stride - s->padding + kj;
                        if (ix < 0 || ix >= W) continue;
                        off[n] = ((c * H + iy) * W + ix) * B;
                        woff[n++] = ((c * K + ki) * K + kj) * O;
                    }
                }
            for (int64_t o0 = 0; o0 < O; o0 += block)
                gmac_lanes(x, off, wt + o0, woff, n, bias + o0, y + ((o0 * OH + oy) * OW + ox) * B, OH * OW * B,
                           min64(block, O - o0), B, wide);
        }
    free(wt), free(off), free(woff);
}

// dx[c, iy, ix, b] = sum over the (o, ki, kj) whose output pixel (oy, ox) read (iy, ix) of weight[o, c, ki, kj] dy[o, oy, ox, b]:
// the forward pass's adjoint, gathered per input pixel so every dx entry is written once.
CLONED void ps_conv_backward_input(const ps_conv_shape *s, const float *dy, const float *weight, float *dx) {
    const int64_t B = s->batch, C = s->inChannels, H = s->height, W = s->width, O = s->outChannels;
    const int64_t OH = s->outHeight, OW = s->outWidth, K = s->kernel, taps = O * K * K, stride = s->stride;
    const int wide = wide_registers(), block = wide ? BLOCK : NARROW_BLOCK;
    float *wt = checked_malloc((size_t)(taps * C) * sizeof(float));  // [o, ki, kj, c]
    int64_t *off = checked_malloc((size_t)taps * sizeof(int64_t)), *woff = checked_malloc((size_t)taps * sizeof(int64_t));
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < K * K; k++) wt[(o * K * K + k) * C + c] = weight[(o * C + c) * K * K + k];
    for (int64_t iy = 0; iy < H; iy++)
        for (int64_t ix = 0; ix < W; ix++) {
            int64_t n = 0;
            for (int64_t o = 0; o < O; o++)
                for (int64_t ki = 0; ki < K; ki++) {
                    const int64_t ty = iy + s->padding - ki, oy = ty / stride;
                    if (ty < 0 || ty % stride || oy >= OH) continue;
                    for (int64_t kj = 0; kj < K; kj++) {
                        const int64_t tx = ix + s->padding - kj, ox = tx / stride;
                        if (tx < 0 || tx % stride || ox >= OW) continue;
                        off[n] = ((o * OH + oy) * OW + ox) * B;
                        woff[n++] = ((o * K + ki) * K + kj) * C;
                    }
                }
            for (int64_t c0 = 0; c0 < C; c0 += block)
                gmac_lanes(dy, off, wt + c0, woff, n, NULL, dx + ((c0 * H + iy) * W + ix) * B, H * W * B,
                           min64(block, C - c0), B, wide);
        }
    free(wt), free(off), free(woff);
}

// The weight gradient takes taps TAPS columns (kj) at a time and outputs WBLOCK at a time:
// 20 accumulators, and each loaded vector feeds 4 or 5 of them; for 3x3 kernels
// TAPS3 x WBLOCK3, so no accumulator sums a padding column (5 taps wasted 2 of 5; 3 x 7
// and 3 x 8 spilled: resnet20 trained at 170-190 images/s, 3 x 6 at 260-290, 5 x 4 at 235-245);
// with 16 registers NARROW_TAPS x NARROW_WBLOCK.
#define TAPS 5
#define WBLOCK 4
#define TAPS3 3
#define WBLOCK3 6
#define NARROW_TAPS 3
#define NARROW_WBLOCK 2
// ps_conv_backward_weight's switch has cases for TAPS x 1..WBLOCK and TAPS3 x 1..8 only
_Static_assert(NARROW_TAPS == TAPS3 && NARROW_WBLOCK <= WBLOCK3 && WBLOCK3 <= 8, "no weight_taps case for a register block");

// x with the padding written out as zeros, widened with zero columns so that
// every tap block of every output pixel reads inside it: [C, hp, wp, B]
// (x itself when it needs neither).
static const float *padded(const ps_conv_shape *s, const float *x, int64_t hp, int64_t wp) {
    const int64_t B = s->batch, H = s->height, W = s->width, pad = s->padding;
    if (hp == H && wp == W) return x;
    float *xp = checked_malloc((size_t)(s->inChannels * hp * wp * B) * sizeof(float));
    for (int64_t c = 0; c < s->inChannels; c++)
        for (int64_t y = 0; y < hp; y++) {
            float *row = xp + (c * hp + y) * wp * B;
            if (y < pad || y >= pad + H) { memset(row, 0, (size_t)(wp * B) * sizeof(float)); continue; }
            memset(row, 0, (size_t)(pad * B) * sizeof(float));
            memcpy(row + pad * B, x + (c * H + y - pad) * W * B, (size_t)(W * B) * sizeof(float));
            memset(row + (pad + W) * B, 0, (size_t)((wp - pad - W) * B) * sizeof(float));
        }
    return xp;
}

// For taps (c, ki, kj0..kj0+NT), outputs o0..o0+NJ and output rows [oy0, oy1), per lane:
// part[k][o] += sum_{oy,ox} dy[o, oy, ox, b] xp[c, oy*stride + ki, ox*stride + kj0 + k, b].
INLINE void weight_taps(const ps_conv_shape *s, const float *xp, int64_t hp, int64_t wp, const float *dy, vf *part,
                        int64_t c, int64_t ki, int64_t kj0, int64_t o0, int64_t oy0, int64_t oy1, const int NT, const int NJ) {
    const int64_t B = s->batch, O = s->outChannels, OH = s->outHeight, OW = s->outWidth;
    const int64_t stride = s->stride, plane = OH * OW * B;
    vf acc[TAPS][WBLOCK3];
    for (int k = 0; k < NT; k++)
        for (int j = 0; j < NJ; j++) acc[k][j] = part[k * O + o0 + j];
    for (int64_t oy = oy0; oy < oy1; oy++) {
        const float *row = xp + ((c * hp + oy * stride + ki) * wp + kj0) * B;
        for (int64_t ox = 0; ox < OW; ox++) {
            const float *xq = row + ox * stride * B, *g = dy + ((o0 * OH + oy) * OW + ox) * B;
            for (int64_t b0 = 0; b0 < B; b0 += LANES) {
                const int n = (int)min64(LANES, B - b0);
                vf d[WBLOCK3];
                if (NJ > WBLOCK) {   // 3 x 6: the NT x vectors held, each dy vector loaded once (22 registers)
                    vf v[TAPS3];
                    for (int k = 0; k < NT; k++) v[k] = n == LANES ? load(xq + k * B + b0, LANES) : load(xq + k * B + b0, n);
                    for (int j = 0; j < NJ; j++) {
                        const vf dj = n == LANES ? load(g + j * plane + b0, LANES) : load(g + j * plane + b0, n);
                        for (int k = 0; k < NT; k++) acc[k][j] += dj * v[k];
                    }
                } else if (n == LANES) {
                    for (int j = 0; j < NJ; j++) d[j] = load(g + j * plane + b0, LANES);
                    for (int k = 0; k < NT; k++) {
                        const vf v = load(xq + k * B + b0, LANES);
                        for (int j = 0; j < NJ; j++) acc[k][j] += d[j] * v;
                    }
                } else {
                    for (int j = 0; j < NJ; j++) d[j] = load(g + j * plane + b0, n);
                    for (int k = 0; k < NT; k++) {
                        const vf v = load(xq + k * B + b0, n);
                        for (int j = 0; j < NJ; j++) acc[k][j] += d[j] * v;
                    }
                }
            }
        }
    }
    for (int k = 0; k < NT; k++)
        for (int j = 0; j < NJ; j++) part[k * O + o0 + j] = acc[k][j];
}

CLONED void ps_conv_backward_weight(const ps_conv_shape *s, const float *x, const float *dy, float *dweight, float *dbias) {
    const int64_t B = s->batch, C = s->inChannels, O = s->outChannels, K = s->kernel, OH = s->outHeight, OW = s->outWidth;
    const int wide = wide_registers();
    const int taps = !wide ? NARROW_TAPS : K == 3 ? TAPS3 : TAPS, wblock = !wide ? NARROW_WBLOCK : K == 3 ? WBLOCK3 : WBLOCK;
    const int64_t hp = s->height + 2 * s->padding, kp = (K + taps - 1) / taps * taps;
    const int64_t wp = max64(s->width + 2 * s->padding, (OW - 1) * s->stride + kp);
    const float *xp = padded(s, x, hp, wp);
    // per-lane partial sums [c, ki, kj < kp, o], summed over lanes once at the end
    vf *part = checked_malloc((size_t)(C * K * kp * O) * sizeof(vf));
    memset(part, 0, (size_t)(C * K * kp * O) * sizeof(vf));
    // Bands of output rows whose dy (about 256 KiB) stays in cache while every tap reads it.
    const int64_t rows = 1 + (256 << 10) / (O * OW * B * (int64_t)sizeof(float));
    for (int64_t oy0 = 0; oy0 < OH; oy0 += rows) {
        const int64_t oy1 = min64(OH, oy0 + rows);
        for (int64_t o = 0; o < O; o++) {
            const float *g = dy + (o * OH + oy0) * OW * B;
            const int64_t count = (oy1 - oy0) * OW * B;
            vf acc = {0};
            int64_t i = 0;
            for (; i + LANES <= count; i += LANES) acc += load(g + i, LANES);
            if (i < count) acc += load(g + i, count - i);
            dbias[o] += lane_sum(acc);
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t ki = 0; ki < K; ki++)
                for (int64_t o0 = 0; o0 < O; o0 += wblock)
                    for (int64_t kj0 = 0; kj0 < K; kj0 += taps) {
                        vf *p = part + ((c * K + ki) * kp + kj0) * O;
#define CASE(T, J) case T * 16 + J: weight_taps(s, xp, hp, wp, dy, p, c, ki, kj0, o0, oy0, oy1, T, J); break;
                        switch (taps * 16 + min64(wblock, O - o0)) {   // the narrow block is among the 3 x J (asserted above)
                            CASE(TAPS, 1) CASE(TAPS, 2) CASE(TAPS, 3) CASE(TAPS, 4)
                            CASE(TAPS3, 1) CASE(TAPS3, 2) CASE(TAPS3, 3) CASE(TAPS3, 4)
                            CASE(TAPS3, 5) CASE(TAPS3, 6) CASE(TAPS3, 7) CASE(TAPS3, 8)
                        }
#undef CASE
                    }
    }
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < K * K; k++) dweight[(o * C + c) * K * K + k] += lane_sum(part[((c * K + k / K) * kp + k % K) * O + o]);
    if (xp != x) free((void *)xp);
    free(part);
}

// One window of every lane: y = the maximum, which = its position (the first in scan order).
INLINE void pool_window(const float *corner, int64_t width, int64_t batch, int64_t k, float *y, uint8_t *which, const int n) {
    vf best = load(corner, n);
    vi arg = {0};
    for (int64_t q = 1; q < k * k; q++) {
        const vf v = load(corner + (q / k * width + q % k) * batch, n);
        const vi greater = v > best;  // strict: an equal later value does not win
        best = (vf)(((vi)v & greater) | ((vi)best & ~greater));
        arg = (((vi){0} + (int32_t)q) & greater) | (arg & ~greater);
    }
    store(y, best, n);
    const vb bytes = __builtin_convertvector(arg, vb);
    memcpy(which, &bytes, (size_t)n);
}

CLONED void ps_maxpool_forward(const float *x, int64_t planes, int64_t height, int64_t width, int64_t batch, int64_t k,
                               float *y, uint8_t *which) {
    const int64_t OH = height / k, OW = width / k;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t b0 = 0; b0 < batch; b0 += LANES) {
                    const float *corner = x + ((p * height + oy * k) * width + ox * k) * batch + b0;
                    const int64_t out = ((p * OH + oy) * OW + ox) * batch + b0;
                    if (b0 + LANES <= batch) pool_window(corner, width, batch, k, y + out, which + out, LANES);
                    else pool_window(corner, width, batch, k, y + out, which + out, (int)(batch - b0));
                }
}

// The window's dx: dy at the position `which` names, zero elsewhere.
INLINE void unpool_window(const float *dy, const uint8_t *which, int64_t width, int64_t batch, int64_t k, float *corner, const int n) {
    vb bytes = {0};
    memcpy(&bytes, which, (size_t)n);
    const vi arg = __builtin_convertvector(bytes, vi);
    const vi g = (vi)load(dy, n);
    for (int64_t q = 0; q < k * k; q++) store(corner + (q / k * width + q % k) * batch, (vf)(g & (arg == (int32_t)q)), n);
}

CLONED void ps_maxpool_backward(const float *dy, const uint8_t *which, int64_t planes, int64_t height, int64_t width,
                                int64_t batch, int64_t k, float *dx) {
    const int64_t OH = height / k, OW = width / k;
    if (height % k || width % k) memset(dx, 0, (size_t)(planes * height * width * batch) * sizeof(float));
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t b0 = 0; b0 < batch; b0 += LANES) {
                    const int64_t out = ((p * OH + oy) * OW + ox) * batch + b0;
                    float *corner = dx + ((p * height + oy * k) * width + ox * k) * batch + b0;
                    if (b0 + LANES <= batch) unpool_window(dy + out, which + out, width, batch, k, corner, LANES);
                    else unpool_window(dy + out, which + out, width, batch, k, corner, (int)(batch - b0));
                }
}

void ps_transpose(const float *src, int64_t rows, int64_t cols, float *dst) {
    enum { TILE = 32 };  // a tile of each side stays in L1
    for (int64_t r0 = 0; r0 < rows; r0 += TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += TILE)
            for (int64_t r = r0; r < min64(rows, r0 + TILE); r++)
                for (int64_t c = c0; c < min64(cols, c0 + TILE); c++) dst[c * rows + r] = src[r * cols + c];
}

// col [C*K*K, rows*OW*B]: row (c*K + ky)*K + kx (the weight's [O, C, K, K] order), column
// ((oh - oh0)*OW + ow)*B + b holds x[c, oh*S - P + ky, ow*S - P + kx, b], 0 outside the image.
// Each copy is a run of B images.
void ps_im2col_rows(const ps_conv_shape *s, const float *x, int64_t oh0, int64_t rows, float *col) {
    const int64_t B = s->batch, H = s->height, W = s->width, K = s->kernel, S = s->stride, P = s->padding, OW = s->outWidth;
    const int64_t n = rows * OW * B;
    for (int64_t c = 0; c < s->inChannels; c++)
        for (int64_t ky = 0; ky < K; ky++)
            for (int64_t kx = 0; kx < K; kx++) {
                float *dst = col + ((c * K + ky) * K + kx) * n;
                for (int64_t r = 0; r < rows; r++) {
                    const int64_t ih = (oh0 + r) * S - P + ky;
                    for (int64_t ow = 0; ow < OW; ow++, dst += B) {
                        const int64_t iw = ow * S - P + kx;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) memset(dst, 0, (size_t)B * sizeof(float));
                        else memcpy(dst, x + ((c * H + ih) * W + iw) * B, (size_t)B * sizeof(float));
                    }
                }
            }
}

// The adjoint of ps_im2col_rows: every col entry is added into the dx entry it was copied from.
CLONED void ps_col2im_rows(const ps_conv_shape *s, const float *col, int64_t oh0, int64_t rows, float *dx) {
    const int64_t B = s->batch, H = s->height, W = s->width, K = s->kernel, S = s->stride, P = s->padding, OW = s->outWidth;
    const int64_t n = rows * OW * B;
    for (int64_t c = 0; c < s->inChannels; c++)
        for (int64_t ky = 0; ky < K; ky++)
            for (int64_t kx = 0; kx < K; kx++) {
                const float *src = col + ((c * K + ky) * K + kx) * n;
                for (int64_t r = 0; r < rows; r++) {
                    const int64_t ih = (oh0 + r) * S - P + ky;
                    for (int64_t ow = 0; ow < OW; ow++, src += B) {
                        const int64_t iw = ow * S - P + kx;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float *d = dx + ((c * H + ih) * W + iw) * B;
                        for (int64_t b = 0; b < B; b++) d[b] += src[b];
                    }
                }
            }
}
