// Magnitude selection over a checkpoint's weights without sorting them: a
// histogram over the bits of |x| (monotone in |x| for non-negative floats),
// refined 16 bits at a time inside the bins that hold a wanted rank. Every
// sum here is exact or taken in a fixed order, so results do not depend on
// how the tensors are split over ranks.
//
// Keys: the bit pattern of |x| as float32 (width 32) or float64 (width 64);
// the top bit is always 0, so the first level has 2^15 bins.
#ifndef PRUNESWEEP_MAGNITUDES_H
#define PRUNESWEEP_MAGNITUDES_H
#include <stdint.h>

// A finer level splits a bin by the next 8 bits of the key.
#define PS_SUB_BINS 256

// One bin: its entries, and the exact sum of their significands squared as a
// 192-bit integer (sum0 lowest). Every key in a bin shares its exponent, so
// the bin's sum of x^2 is that integer times 2^(2 * exponent).
typedef struct { uint64_t count, sum0, sum1, sum2; } ps_bin;

// x [n] in the checkpoint's 16-bit float formats -> float32 (exact).
void ps_widen_bf16(const uint16_t *x, int64_t n, float *out);
void ps_widen_f16(const uint16_t *x, int64_t n, float *out);
// x [n] float32 -> float64 (exact).
void ps_widen_f32(const float *x, int64_t n, double *out);

// First level: bins [2^15] by key >> (width - 16); power sums of (x - shift)
// in index order: powers[p - 1] += sum (x - shift)^p for p = 1...4.
// Returns how many entries are NaN or infinite (they are not counted).
int64_t ps_level1_f32(const float *x, int64_t n, ps_bin *bins, double shift, double *powers);
int64_t ps_level1_f64(const double *x, int64_t n, ps_bin *bins, double shift, double *powers);

// A finer level: entries whose key >> shift is prefixes[j] (sorted, m of them)
// go to bins[j * PS_SUB_BINS + ((key >> (shift - 8)) & 0xFF)]; shift >= 8.
void ps_refine_f32(const float *x, int64_t n, const uint64_t *prefixes, int64_t m, int shift, ps_bin *bins);
void ps_refine_f64(const double *x, int64_t n, const uint64_t *prefixes, int64_t m, int shift, ps_bin *bins);

// For each of k thresholds (keys): below[i] += entries with key < t[i], at[i] += entries with key == t[i].
void ps_count_f32(const float *x, int64_t n, const uint64_t *t, int64_t k, int64_t *below, int64_t *at);
void ps_count_f64(const double *x, int64_t n, const uint64_t *t, int64_t k, int64_t *below, int64_t *at);

// hist [65536] += how often each 16-bit pattern occurs in x [n] (BF16 or F16
// bits). scratch [4 * 65536] is working space (four interleaved counters, so
// a run of equal values does not wait on its own increments).
void ps_histogram_u16(const uint16_t *x, int64_t n, uint64_t *hist, uint32_t *scratch);

// Pruning in place on the raw elements (dtype 0 F32, 1 F64, 2 F16, 3 BF16): an
// entry with key < t is zeroed; one with key == t is zeroed while *ties > 0,
// in index order (decrementing it). mask [n] (if not NULL) gets 0 where zeroed, 1 elsewhere.
void ps_prune(void *x, int dtype, int64_t n, uint64_t t, int width, int64_t *ties, uint8_t *mask);
#endif
