#include "magnitudes.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#define CLONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

static inline uint32_t key32(float x) { uint32_t u; memcpy(&u, &x, 4); return u & 0x7FFFFFFFu; }
static inline uint64_t key64(double x) { uint64_t u; memcpy(&u, &x, 8); return u & 0x7FFFFFFFFFFFFFFFull; }

// Adds a significand squared (< 2^106) to a bin's 192-bit sum.
static inline void add_square(ps_bin *b, unsigned __int128 sq) {
    unsigned __int128 low = ((unsigned __int128)b->sum1 << 64 | b->sum0) + sq;
    if (low < sq) b->sum2++;
    b->sum0 = (uint64_t)low;
    b->sum1 = (uint64_t)(low >> 64);
}

static inline uint64_t significand32(uint32_t key) { uint32_t e = key >> 23, m = key & 0x7FFFFFu; return e ? (m | 0x800000u) : m; }
static inline uint64_t significand64(uint64_t key) { uint64_t e = key >> 52, m = key & 0xFFFFFFFFFFFFFull; return e ? (m | (1ull << 52)) : m; }

CLONED void ps_widen_bf16(const uint16_t *x, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) { uint32_t u = (uint32_t)x[i] << 16; memcpy(out + i, &u, 4); }
}

CLONED void ps_widen_f16(const uint16_t *x, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) { _Float16 h; memcpy(&h, x + i, 2); out[i] = (float)h; }
}

CLONED void ps_widen_f32(const float *x, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i];
}

// nonfinite: the smallest key of an infinity or NaN; top: the shift that leaves a key's first 16 bits.
#define LEVEL1(name, T, key, significand, nonfinite, top)                                                   \
    CLONED int64_t name(const T *x, int64_t n, ps_bin *bins, double shift, double *powers) {                \
        int64_t bad = 0;                                                                                    \
        double p1 = powers[0], p2 = powers[1], p3 = powers[2], p4 = powers[3];                              \
        for (int64_t i = 0; i < n; i++) {                                                                   \
            uint64_t k = key(x[i]);                                                                         \
            if (k >= (nonfinite)) { bad++; continue; }                                                      \
            ps_bin *b = bins + (k >> (top));                                                                \
            uint64_t m = significand(k);                                                                    \
            b->count++;                                                                                     \
            add_square(b, (unsigned __int128)m * m);                                                        \
            double d = (double)x[i] - shift, d2 = d * d;                                                    \
            p1 += d; p2 += d2; p3 += d2 * d; p4 += d2 * d2;                                                 \
        }                                                                                                   \
        powers[0] = p1; powers[1] = p2; powers[2] = p3; powers[3] = p4;                                     \
        return bad;                                                                                         \
    }
LEVEL1(ps_level1_f32, float, key32, significand32, 0x7F800000u, 16)
LEVEL1(ps_level1_f64, double, key64, significand64, 0x7FF0000000000000ull, 48)

// The slot of prefix p among m sorted prefixes, or -1.
static inline int64_t find(const uint64_t *prefixes, int64_t m, uint64_t p) {
    int64_t lo = 0, hi = m;
    while (lo < hi) { int64_t mid = (lo + hi) / 2; if (prefixes[mid] < p) lo = mid + 1; else hi = mid; }
    return lo < m && prefixes[lo] == p ? lo : -1;
}

#define REFINE(name, T, key, significand)                                                                     \
    CLONED void name(const T *x, int64_t n, const uint64_t *prefixes, int64_t m, int shift, ps_bin *bins) {   \
        for (int64_t i = 0; i < n; i++) {                                                                     \
            uint64_t k = key(x[i]);                                                                           \
            int64_t j = find(prefixes, m, k >> shift);                                                        \
            if (j < 0) continue;                                                                              \
            ps_bin *b = bins + j * PS_SUB_BINS + ((k >> (shift - 8)) & 0xFF);                                 \
            uint64_t s = significand(k);                                                                      \
            b->count++;                                                                                       \
            add_square(b, (unsigned __int128)s * s);                                                          \
        }                                                                                                     \
    }
REFINE(ps_refine_f32, float, key32, significand32)
REFINE(ps_refine_f64, double, key64, significand64)

#define COUNT(name, T, key)                                                                                      \
    CLONED void name(const T *x, int64_t n, const uint64_t *t, int64_t k, int64_t *below, int64_t *at) {         \
        for (int64_t j = 0; j < k; j++) {                                                                        \
            int64_t lt = 0, eq = 0;                                                                              \
            for (int64_t i = 0; i < n; i++) { uint64_t v = key(x[i]); lt += v < t[j]; eq += v == t[j]; }         \
            below[j] += lt; at[j] += eq;                                                                         \
        }                                                                                                        \
    }
COUNT(ps_count_f32, float, key32)
COUNT(ps_count_f64, double, key64)

CLONED void ps_histogram_u16(const uint16_t *x, int64_t n, uint64_t *hist, uint32_t *scratch) {
    memset(scratch, 0, 4 * 65536 * sizeof(uint32_t));
    uint32_t *h0 = scratch, *h1 = h0 + 65536, *h2 = h1 + 65536, *h3 = h2 + 65536;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) { h0[x[i]]++; h1[x[i + 1]]++; h2[x[i + 2]]++; h3[x[i + 3]]++; }
    for (; i < n; i++) h0[x[i]]++;
    for (int j = 0; j < 65536; j++) hist[j] += (uint64_t)h0[j] + h1[j] + h2[j] + h3[j];
}

// The key of raw element i of a dtype, at width 32 or 64.
static inline uint64_t raw_key(const void *x, int dtype, int64_t i, int width) {
    double d;
    switch (dtype) {
    case 0: { float f; memcpy(&f, (const char *)x + 4 * i, 4); if (width == 32) return key32(f); d = f; break; }
    case 1: memcpy(&d, (const char *)x + 8 * i, 8); break;
    case 2: { _Float16 h; memcpy(&h, (const char *)x + 2 * i, 2); if (width == 32) return key32((float)h); d = (double)h; break; }
    default: { uint16_t b; memcpy(&b, (const char *)x + 2 * i, 2); uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4);
               if (width == 32) return key32(f); d = f; break; }
    }
    return key64(d);
}

// Entries below t go first, in one loop the compiler vectorises; then, while
// ties remain, entries equal to t in index order (rare: one tensor holds them).
#define PRUNE(T, keyof)                                                                          \
    {                                                                                            \
        T *p = x;                                                                                \
        if (mask) for (int64_t i = 0; i < n; i++) mask[i] = (uint64_t)(keyof) >= t;              \
        for (int64_t i = 0; i < n; i++) p[i] = (uint64_t)(keyof) < t ? 0 : p[i];                 \
        for (int64_t i = 0; i < n && *ties > 0; i++) {                                           \
            if ((uint64_t)(keyof) == t) { p[i] = 0; (*ties)--; if (mask) mask[i] = 0; }          \
        }                                                                                        \
    }

CLONED void ps_prune(void *x, int dtype, int64_t n, uint64_t t, int width, int64_t *ties, uint8_t *mask) {
    static const int size[] = {4, 8, 2, 2};
    if (width == 32 && dtype == 3) {   // BF16: the key is the bits, shifted
        PRUNE(uint16_t, (p[i] & 0x7FFFu) << 16)
    } else if (width == 32 && dtype == 0) {
        PRUNE(uint32_t, p[i] & 0x7FFFFFFFu)
    } else {
        for (int64_t i = 0; i < n; i++) {
            uint64_t k = raw_key(x, dtype, i, width);
            int zero = k < t;
            if (k == t && *ties > 0) { (*ties)--; zero = 1; }
            if (zero) memset((char *)x + size[dtype] * i, 0, (size_t)size[dtype]);
            if (mask) mask[i] = (uint8_t)!zero;
        }
    }
}
