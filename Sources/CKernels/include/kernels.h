// Conv-layer loops on the batch-innermost layout [C, H, W, B]: every inner
// step is 16 images at once. Built once per instruction set (AVX-512, AVX2,
// baseline) and picked at load time, so no compiler flags are needed.
#ifndef PRUNESWEEP_KERNELS_H
#define PRUNESWEEP_KERNELS_H
#include <stdint.h>

// Shape of one convolution: x [C, H, W, B] -> y [O, OH, OW, B], weight [O, C, K, K] (PyTorch's layout).
typedef struct {
    int64_t batch, inChannels, height, width, outChannels, outHeight, outWidth, kernel, stride, padding;
} ps_conv_shape;

// y = conv(x) + bias.
void ps_conv_forward(const ps_conv_shape *s, const float *x, const float *weight, const float *bias, float *y);
// dx = dL/dx (overwritten).
void ps_conv_backward_input(const ps_conv_shape *s, const float *dy, const float *weight, float *dx);
// dweight += dL/dweight, dbias += dL/dbias.
void ps_conv_backward_weight(const ps_conv_shape *s, const float *x, const float *dy, float *dweight, float *dbias);

// Max over k x k windows with stride k: x [C, H, W, B] -> y [C, H/k, W/k, B];
// which[i] is the window position (row-major, first maximum wins) y[i] came from.
void ps_maxpool_forward(const float *x, int64_t planes, int64_t height, int64_t width, int64_t batch, int64_t k,
                        float *y, uint8_t *which);
// dx (overwritten) gets dy at the positions `which` names and zero elsewhere.
void ps_maxpool_backward(const float *dy, const uint8_t *which, int64_t planes, int64_t height, int64_t width,
                         int64_t batch, int64_t k, float *dx);

// The convolution as a matrix product, a band of output rows at a time:
// col [C*K*K, rows*OW*B] holds x at every tap for output rows oh0 ..< oh0 + rows
// (row (c*K + ky)*K + kx, column ((oh - oh0)*OW + ow)*B + b; 0 in the padding), so
// y[:, band] = weight [O, C*K*K] x col, and dweight += dy[:, band] x col^T.
void ps_im2col_rows(const ps_conv_shape *s, const float *x, int64_t oh0, int64_t rows, float *col);
// dx += the adjoint of ps_im2col_rows applied to col (input gradient from dcol = weight^T x dy).
void ps_col2im_rows(const ps_conv_shape *s, const float *col, int64_t oh0, int64_t rows, float *dx);

// Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1 and padding 1 on even H and W
// (winograd.c), a band of tile rows [ty0, ty0 + tyn) at a time, n = tyn * W/2 * B columns:
// U [16][O][C] (flip: [16][C][O], the kernel of dL/dx) from weight [O][C][3][3];
void ps_wino_weights(const float *weight, int64_t O, int64_t C, int flip, float *U);
// V [16][C][n] from x [C][H][W][B];
void ps_wino_input(const float *x, int64_t C, int64_t H, int64_t W, int64_t B, int64_t ty0, int64_t tyn, float *V);
// the band's rows of y [O][H][W][B] from M [16][O][n] = U V per point, plus bias[o] (bias may be NULL);
void ps_wino_output(const float *M, int64_t O, int64_t H, int64_t W, int64_t B, int64_t ty0, int64_t tyn,
                    const float *bias, float *y);
// D [16][O][n] from dy [O][H][W][B];
void ps_wino_grad_output(const float *dy, int64_t O, int64_t H, int64_t W, int64_t B, int64_t ty0, int64_t tyn,
                         float *D);
// dweight [O][C][3][3] += the weight gradient from P [16][O][C] = sum over bands of D V^T per point.
void ps_wino_weight_grad(const float *P, int64_t O, int64_t C, float *dweight);

// The convolutions' register blocks: 1 those for 32 vector registers (AVX-512), 0 for 16;
// chosen from the CPU at first use. For tests: the sums are the same bits either way.
void ps_set_wide_registers(int on);

// dst [cols, rows] = src [rows, cols] transposed.
void ps_transpose(const float *src, int64_t rows, int64_t cols, float *dst);
#endif
