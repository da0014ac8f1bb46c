// Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1 and padding 1 on
// even-sided planes (Lavin and Gray 2016): each 2x2 output tile comes from a
// 4x4 input patch d as y = A^T [(G g G^T) . (B^T d B)] A, 16 multiplies per
// tile and channel pair instead of 36. The products over channels become 16
// matrix products, one per point xi of the 4x4 transform domain.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// The weight gradient is the same map transposed: for one tile,
// dg = G^T [(A dy A^T) . (B^T d B)] G.
// Tiles are taken a band of tile rows [ty0, ty0 + tyn) at a time; in a band,
// column ((ty - ty0) * W/2 + tx) * B + b holds tile (ty, tx) of image b.
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

// 16 images per step, as in kernels.c; the last step of a batch takes the k left.
#define LANES 16
typedef float vf __attribute__((vector_size(4 * LANES), aligned(4)));
#define LOAD(p) ({ vf v_ = {0}; if (k == LANES) memcpy(&v_, (p), sizeof v_); else memcpy(&v_, (p), (size_t)k * sizeof(float)); v_; })
#define STORE(p, v) do { vf v_ = (v); if (k == LANES) memcpy((p), &v_, sizeof v_); else memcpy((p), &v_, (size_t)k * sizeof(float)); } while (0)

#if defined(__x86_64__)
#define CLONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

// U [16][rows][cols] from weight [O][C][3][3]: U[xi][o][c] = (G g G^T)[xi] (rows O, cols C);
// with flip, U[xi][c][o] = (G rot180(g) G^T)[xi] (rows C, cols O): the kernel of dL/dx.
void ps_wino_weights(const float *weight, int64_t O, int64_t C, int flip, float *U) {
    const int64_t plane = O * C;
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++) {
            const float *w = weight + (o * C + c) * 9;
            float g[3][3], t[4][3];
            for (int i = 0; i < 9; i++) g[i / 3][i % 3] = flip ? w[8 - i] : w[i];
            for (int j = 0; j < 3; j++) {   // t = G g
                t[0][j] = g[0][j];
                t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            float *u = U + (flip ? c * O + o : o * C + c);
            for (int i = 0; i < 4; i++) {   // u = t G^T
                u[(i * 4 + 0) * plane] = t[i][0];
                u[(i * 4 + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(i * 4 + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(i * 4 + 3) * plane] = t[i][2];
            }
        }
}

// V [16][C][n] = B^T d B for every tile of the band, d the 4x4 patch of x [C][H][W][B]
// at rows 2ty-1 .. 2ty+2 and columns 2tx-1 .. 2tx+2 (zero outside the plane).
CLONED void ps_wino_input(const float *x, int64_t C, int64_t H, int64_t W, int64_t B, int64_t ty0, int64_t tyn,
                          float *V) {
    const int64_t TW = W / 2, n = tyn * TW * B;
    float *zero = calloc((size_t)B, sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t ty = ty0; ty < ty0 + tyn; ty++)
            for (int64_t tx = 0; tx < TW; tx++) {
                const float *d[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        const int64_t h = 2 * ty - 1 + i, w = 2 * tx - 1 + j;
                        d[i][j] = h < 0 || h >= H || w < 0 || w >= W ? zero : x + ((c * H + h) * W + w) * B;
                    }
                float *v = V + c * n + ((ty - ty0) * TW + tx) * B;
                for (int64_t b = 0; b < B; b += LANES) {
                    const int64_t k = B - b < LANES ? B - b : LANES;
                    vf t[4][4];
                    for (int j = 0; j < 4; j++) {   // t = B^T d
                        const vf d0 = LOAD(d[0][j] + b), d1 = LOAD(d[1][j] + b), d2 = LOAD(d[2][j] + b), d3 = LOAD(d[3][j] + b);
                        t[0][j] = d0 - d2;
                        t[1][j] = d1 + d2;
                        t[2][j] = d2 - d1;
                        t[3][j] = d1 - d3;
                    }
                    for (int i = 0; i < 4; i++) {   // v = t B
                        STORE(v + (i * 4 + 0) * C * n + b, t[i][0] - t[i][2]);
                        STORE(v + (i * 4 + 1) * C * n + b, t[i][1] + t[i][2]);
                        STORE(v + (i * 4 + 2) * C * n + b, t[i][2] - t[i][1]);
                        STORE(v + (i * 4 + 3) * C * n + b, t[i][1] - t[i][3]);
                    }
                }
            }
    free(zero);
}

// y[o][2ty+i][2tx+j][b] = (A^T m A)[i][j] (+ bias[o] unless bias is NULL), m from M [16][O][n].
CLONED void ps_wino_output(const float *M, int64_t O, int64_t H, int64_t W, int64_t B, int64_t ty0, int64_t tyn,
                           const float *bias, float *y) {
    const int64_t TW = W / 2, n = tyn * TW * B;
    for (int64_t o = 0; o < O; o++) {
        const float b0 = bias ? bias[o] : 0;   // added to every lane below
        for (int64_t ty = ty0; ty < ty0 + tyn; ty++)
            for (int64_t tx = 0; tx < TW; tx++) {
                const float *m = M + o * n + ((ty - ty0) * TW + tx) * B;
                float *out[2][2];
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) out[i][j] = y + ((o * H + 2 * ty + i) * W + 2 * tx + j) * B;
                for (int64_t b = 0; b < B; b += LANES) {
                    const int64_t k = B - b < LANES ? B - b : LANES;
                    vf s[2][4];
                    for (int j = 0; j < 4; j++) {   // s = A^T m
                        const vf m0 = LOAD(m + (0 * 4 + j) * O * n + b), m1 = LOAD(m + (1 * 4 + j) * O * n + b);
                        const vf m2 = LOAD(m + (2 * 4 + j) * O * n + b), m3 = LOAD(m + (3 * 4 + j) * O * n + b);
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    for (int i = 0; i < 2; i++) {   // y = s A
                        STORE(out[i][0] + b, s[i][0] + s[i][1] + s[i][2] + b0);
                        STORE(out[i][1] + b, s[i][1] - s[i][2] - s[i][3] + b0);
                    }
                }
            }
    }
}

// D [16][O][n] = A e A^T for every 2x2 tile e of dy [O][H][W][B] in the band.
CLONED void ps_wino_grad_output(const float *dy, int64_t O, int64_t H, int64_t W, int64_t B, int64_t ty0,
                                int64_t tyn, float *D) {
    const int64_t TW = W / 2, n = tyn * TW * B;
    for (int64_t o = 0; o < O; o++)
        for (int64_t ty = ty0; ty < ty0 + tyn; ty++)
            for (int64_t tx = 0; tx < TW; tx++) {
                const float *e[2][2];
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) e[i][j] = dy + ((o * H + 2 * ty + i) * W + 2 * tx + j) * B;
                float *d = D + o * n + ((ty - ty0) * TW + tx) * B;
                for (int64_t b = 0; b < B; b += LANES) {
                    const int64_t k = B - b < LANES ? B - b : LANES;
                    vf r[4][2];
                    for (int j = 0; j < 2; j++) {   // r = A e
                        const vf e0 = LOAD(e[0][j] + b), e1 = LOAD(e[1][j] + b);
                        r[0][j] = e0;
                        r[1][j] = e0 + e1;
                        r[2][j] = e0 - e1;
                        r[3][j] = -e1;
                    }
                    for (int i = 0; i < 4; i++) {   // d = r A^T
                        STORE(d + (i * 4 + 0) * O * n + b, r[i][0]);
                        STORE(d + (i * 4 + 1) * O * n + b, r[i][0] + r[i][1]);
                        STORE(d + (i * 4 + 2) * O * n + b, r[i][0] - r[i][1]);
                        STORE(d + (i * 4 + 3) * O * n + b, -r[i][1]);
                    }
                }
            }
}

// dweight [O][C][3][3] += G^T P G, P [16][O][C] (the transform-domain sums of D . V).
void ps_wino_weight_grad(const float *P, int64_t O, int64_t C, float *dweight) {
    const int64_t plane = O * C;
    for (int64_t oc = 0; oc < plane; oc++) {
        float p[4][4], t[3][4];
        for (int i = 0; i < 16; i++) p[i / 4][i % 4] = P[i * plane + oc];
        for (int j = 0; j < 4; j++) {   // t = G^T p
            t[0][j] = p[0][j] + 0.5f * (p[1][j] + p[2][j]);
            t[1][j] = 0.5f * (p[1][j] - p[2][j]);
            t[2][j] = 0.5f * (p[1][j] + p[2][j]) + p[3][j];
        }
        float *dw = dweight + oc * 9;
        for (int i = 0; i < 3; i++) {   // dw += t G
            dw[i * 3 + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
            dw[i * 3 + 1] += 0.5f * (t[i][1] - t[i][2]);
            dw[i * 3 + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
}
