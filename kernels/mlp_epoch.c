/* One training epoch of the mlp (Linear d -> H, ReLU, Linear H -> C without bias) in one call: minibatches in the
 * given order, closed-form gradients of the mean cross-entropy, every gradient element clamped to +-clamp, Adam
 * (torch's formula, no weight decay). The semantics of learner.py's PyTorch path; only float rounding differs.
 *
 * The inputs come as x = s + base: `base` holds one value per feature (its minimum: in images, the background) and
 * s is sparse (CSR: indptr, indices, values), so for MNIST-like data most of the first layer's products are skipped:
 *   h = relu(s W1ᵀ + (W1 base + b1)),   ∂W1 = ∂Hᵀ s + (Σ_rows ∂H) baseᵀ
 * (∂W1's column summed densely instead, as ∂Hᵀ x, for a feature with base ≠ 0 that is 0 in one of the batch's rows).
 * W1 is kept transposed (W1t, d x H) so that one feature's weights are one contiguous row.
 * H must be a multiple of 16 (kernels.VECTOR; V divides it).
 * mlp_forward computes the same network's outputs (logits and embeddings h) on CSR rows, one row at a time. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Floats per vector: a machine register's width (AVX-512: 16, else 8; GCC emulates wider vector types through the
 * stack, 10x slower), and vectors per register block (64 hidden units either way). Each hidden unit is summed in the
 * same order at any width, so both give the same floats. */
#ifdef __AVX512F__
#define V 16
#else
#define V 8
#endif
#define NV (64 / V)
typedef float vf __attribute__((vector_size(V * sizeof(float)), aligned(sizeof(float))));

/* Adam's step t: size = lr · √bc2 / bc1 and eps = ε · √bc2, with bc_i = 1 − β_iᵗ (torch's update
 * p − lr/bc1 · m / (√v/√bc2 + ε), with numerator and denominator multiplied by √bc2: one division instead of two) */
typedef struct {
    float beta1, beta2, size, eps, clamp;
} AdamStep;

/* clamp g to ±clamp; m ← m + (1 − β1)(g − m); v ← β2 v + (1 − β2) g²; p ← p − size · m / (√v + eps) */
static void adam_update(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, int64_t n,
                        AdamStep a)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] < -a.clamp ? -a.clamp : (g[i] > a.clamp ? a.clamp : g[i]);
        m[i] += (1 - a.beta1) * (gi - m[i]);
        v[i] = a.beta2 * v[i] + (1 - a.beta2) * gi * gi;
        p[i] -= a.size * m[i] / (sqrtf(v[i]) + a.eps);
    }
}

/* out[k0 : k0 + nv·V] = init[...] · scale + Σ_p coef[p] · rows[at[p] · H + k0 ...]: a block of a sparse
 * combination of rows, accumulated in registers */
static inline __attribute__((always_inline)) void combine_block(
    float *restrict out, const float *restrict init, float scale, const float *restrict rows, int64_t H, int64_t k0,
    const int32_t *restrict at, const float *restrict coef, int64_t count, const int nv)
{
    vf acc[NV];
    for (int l = 0; l < nv; l++)
        acc[l] = scale * *(const vf *)(init + k0 + l * V);
    for (int64_t p = 0; p < count; p++) {
        const float *r = rows + (int64_t)at[p] * H + k0;
        float c = coef[p];
        for (int l = 0; l < nv; l++)
            acc[l] += c * *(const vf *)(r + l * V);
    }
    for (int l = 0; l < nv; l++)
        *(vf *)(out + k0 + l * V) = acc[l];
}

/* out = init · scale + Σ_p coef[p] · rows[at[p]] for rows of length H */
static void combine(float *restrict out, const float *restrict init, float scale, const float *restrict rows,
                    int64_t H, const int32_t *restrict at, const float *restrict coef, int64_t count)
{
    int64_t k0 = 0;
    for (; k0 + NV * V <= H; k0 += NV * V)
        combine_block(out, init, scale, rows, H, k0, at, coef, count, NV);
    for (; k0 < H; k0 += V)
        combine_block(out, init, scale, rows, H, k0, at, coef, count, 1);
}

/* The batch's entries of s by feature (CSC): for feature j, rows row_of[col_ptr[j] : col_ptr[j + 1]] (positions
 * within the batch) with values col_val[...] */
static void batch_columns(const int64_t *order, int64_t nb, int64_t d, const int64_t *indptr, const int32_t *indices,
                          const float *values, int32_t *col_ptr, int32_t *row_of, float *col_val)
{
    memset(col_ptr, 0, (d + 1) * sizeof(int32_t));
    for (int64_t i = 0; i < nb; i++)
        for (int64_t p = indptr[order[i]]; p < indptr[order[i] + 1]; p++)
            col_ptr[indices[p] + 1]++;
    for (int64_t j = 0; j < d; j++)
        col_ptr[j + 1] += col_ptr[j];
    for (int64_t i = 0; i < nb; i++)
        for (int64_t p = indptr[order[i]]; p < indptr[order[i] + 1]; p++) {
            int32_t slot = col_ptr[indices[p]]++;
            row_of[slot] = (int32_t)i;
            col_val[slot] = values[p];
        }
    for (int64_t j = d; j > 0; j--)
        col_ptr[j] = col_ptr[j - 1];
    col_ptr[0] = 0;
}

/* Whether a feature whose minimum `base` is not 0 is 0 in one of the batch's rows (an entry of s equal to −base) */
static int zero_in_batch(float base, const float *restrict val, int64_t count)
{
    if (base == 0)
        return 0;
    for (int64_t p = 0; p < count; p++)
        if (val[p] == -base)
            return 1;
    return 0;
}

/* grad = Σ_i x_i ∂h_i over the batch's nb rows where x_i = base + s_i ≠ 0, for a feature that zero_in_batch: summed
 * as PyTorch's dense product is, where an x of 0 (or a ∂h of 0) adds exactly 0, rather than as base · Σ ∂h + Σ s ∂h,
 * which leaves rounding noise where the sum is exactly 0 (and Adam's normalisation turns noise into a step of lr).
 * x and at: scratch space of nb entries. */
static void dense_column(float *restrict grad, float base, const float *restrict dh, int64_t H, int64_t nb,
                         const int32_t *restrict row_of, const float *restrict val, int64_t count, float *restrict x,
                         int32_t *restrict at, const float *restrict zero)
{
    for (int64_t i = 0; i < nb; i++)
        x[i] = base;
    for (int64_t p = 0; p < count; p++)
        x[row_of[p]] = val[p] + base;
    int64_t m = 0;
    for (int64_t i = 0; i < nb; i++)
        if (x[i] != 0) {
            at[m] = (int32_t)i;
            x[m++] = x[i];
        }
    combine(grad, zero, 0.0f, dh, H, at, x, m);
}

/* W2t (H × Cp, Cp = C rounded up to V, padding 0) := W2ᵀ, so that z = W2 h is a combination of W2t's rows */
static void transpose_padded(float *restrict W2t, const float *restrict W2, int64_t H, int64_t C, int64_t Cp)
{
    for (int64_t k = 0; k < H; k++)
        for (int64_t q = 0; q < Cp; q++)
            W2t[k * Cp + q] = q < C ? W2[q * H + k] : 0;
}

/* Forward and backward of one sample (row r of s): h = relu(s_r W1ᵀ + c), z = W2 h, g = (softmax(z) − onehot)/nb,
 * ∂h = (W2ᵀ g) ⊙ [h > 0]; writes h, ∂h and g (into column i of Gt, C × cap), adds ∂h to gb. Returns argmax z, or −1
 * if z is not finite. */
static int64_t sample_step(const float *W1t, const float *W2, const float *W2t, const float *c, const float *zero,
                           const int32_t *iota, int64_t H, int64_t C, int64_t Cp, int64_t cap, int64_t i, int64_t nb,
                           const int32_t *idx, const float *val, int64_t nnz, int64_t label, float *restrict h,
                           float *restrict dh, float *restrict z, float *restrict Gt, float *restrict gb)
{
    combine(h, c, 1.0f, W1t, H, idx, val, nnz);
    for (int64_t k = 0; k < H; k++)
        h[k] = h[k] > 0 ? h[k] : 0;
    combine(z, zero, 0.0f, W2t, Cp, iota, h, H);
    int64_t arg = 0;
    int finite = 1;
    for (int64_t q = 0; q < C; q++) {
        finite &= isfinite(z[q]) != 0;
        if (z[q] > z[arg])
            arg = q;
    }
    float zmax = z[arg], sum = 0;
    for (int64_t q = 0; q < C; q++) {
        z[q] = expf(z[q] - zmax);
        sum += z[q];
    }
    for (int64_t q = 0; q < C; q++) {
        z[q] = (z[q] / sum - (q == label)) / nb;
        Gt[q * cap + i] = z[q];
    }
    combine(dh, zero, 0.0f, W2, H, iota, z, C);
    for (int64_t k = 0; k < H; k++) {
        dh[k] = h[k] > 0 ? dh[k] : 0;
        gb[k] += dh[k];
    }
    return finite ? arg : -1;
}

/* The arguments of mlp_epoch, defined once: X(type, name, shape) per field, in order. kernels/__init__.py builds its
 * ctypes structure from mlp_training_fields() and checks every array against its type and shape (a comma-separated
 * list of sums of fields and numbers) before passing a pointer. */
typedef int64_t i64;
typedef double f64;
typedef int64_t *i64_ptr;
typedef int32_t *i32_ptr;
typedef float *f32_ptr;
#define MLP_TRAINING(X)                                                                                               \
    X(i64, n, )            /* rows */                                                                                 \
    X(i64, d, )            /* features */                                                                             \
    X(i64, H, )            /* hidden width, a multiple of V */                                                        \
    X(i64, C, )            /* classes */                                                                              \
    X(i64, B, )            /* minibatch size */                                                                       \
    X(i64, nnz, )          /* entries of s */                                                                         \
    X(i64_ptr, indptr, n + 1)                                                                                         \
    X(i32_ptr, indices, nnz)                                                                                          \
    X(f32_ptr, values, nnz)                                                                                           \
    X(f32_ptr, base, d)                                                                                               \
    X(i64_ptr, labels, n)                                                                                             \
    X(i64_ptr, order, n)   /* this epoch's rows in order */                                                           \
    X(i64_ptr, predicted, n)                                                                                          \
    X(f32_ptr, W1t, d, H)                                                                                             \
    X(f32_ptr, b1, H)                                                                                                 \
    X(f32_ptr, W2, C, H)                                                                                              \
    X(f32_ptr, m1, d, H)                                                                                              \
    X(f32_ptr, v1, d, H)                                                                                              \
    X(f32_ptr, mb, H)                                                                                                 \
    X(f32_ptr, vb, H)                                                                                                 \
    X(f32_ptr, m2, C, H)                                                                                              \
    X(f32_ptr, v2, C, H)                                                                                              \
    X(i64_ptr, step, 1)    /* Adam's step count */                                                                    \
    X(f64, lr, )                                                                                                      \
    X(f64, beta1, )                                                                                                   \
    X(f64, beta2, )                                                                                                   \
    X(f64, eps, )                                                                                                     \
    X(f64, clamp, )

#define FIELD(type, name, ...) type name;
#define DESCRIBE(type, name, ...) #type " " #name " " #__VA_ARGS__ ";"
/* The structure `Type` with the fields of LIST, and the functions prefix_fields ("type name shape;" per field) and
 * prefix_size (its sizeof, for the caller to check its structure against) */
#define DESCRIBED_STRUCT(Type, LIST, prefix)                                                                          \
    typedef struct {                                                                                                  \
        LIST(FIELD)                                                                                                   \
    } Type;                                                                                                           \
    const char *prefix##_fields(void)                                                                                 \
    {                                                                                                                 \
        return LIST(DESCRIBE);                                                                                        \
    }                                                                                                                 \
    int64_t prefix##_size(void)                                                                                       \
    {                                                                                                                 \
        return sizeof(Type);                                                                                          \
    }

DESCRIBED_STRUCT(MlpTraining, MLP_TRAINING, mlp_training)

/* Trains one epoch over t->order, in batches of B (a last batch of one row joins the one before, as in
 * learner.batch_bounds). Writes each row's prediction (made before its step) to predicted[position] and returns the
 * number right, −1 when a logit was not finite, −2 when its scratch space could not be allocated. */
int64_t mlp_epoch(const MlpTraining *t)
{
    const int64_t n = t->n, d = t->d, H = t->H, C = t->C, B = t->B, *indptr = t->indptr, *order = t->order;
    const int64_t *labels = t->labels;
    const int32_t *indices = t->indices;
    const float *values = t->values, *base = t->base;
    float *W1t = t->W1t, *b1 = t->b1, *W2 = t->W2;
    int64_t *step = t->step, *predicted = t->predicted;
    const double beta1 = t->beta1, beta2 = t->beta2;
    int64_t cap = B + 1, Cp = (C + V - 1) / V * V, most = H > cap ? (H > Cp ? H : Cp) : (cap > Cp ? cap : Cp);
    float *work = malloc((2 * cap * H + 3 * H + C * H + Cp + C * cap + H * Cp + most + cap * d + cap) * sizeof(float));
    int32_t *iwork = malloc((most + d + 1 + cap * d + cap) * sizeof(int32_t));
    if (!work || !iwork) {
        free(work);
        free(iwork);
        return -2;
    }
    float *h = work, *dh = h + cap * H, *gb = dh + cap * H, *c = gb + H, *g2 = c + H, *z = g2 + C * H;
    float *grad = z + Cp, *Gt = grad + H, *W2t = Gt + C * cap, *zero = W2t + H * Cp, *col_val = zero + most;
    float *x_col = col_val + cap * d;
    int32_t *iota = iwork, *col_ptr = iota + most, *row_of = col_ptr + d + 1, *at_col = row_of + cap * d;
    for (int64_t k = 0; k < most; k++) {
        iota[k] = (int32_t)k;
        zero[k] = 0;
    }
    transpose_padded(W2t, W2, H, C, Cp);
    int64_t correct = 0, nb;
    int finite = 1;
    for (int64_t a0 = 0; a0 < n; a0 += nb) {
        nb = n - a0 < B ? n - a0 : B;
        nb += n - a0 - nb == 1;
        memcpy(c, b1, H * sizeof(float)); /* c = b1 + W1 base */
        for (int64_t j = 0; j < d; j++)
            for (int64_t k = 0; k < H; k++)
                c[k] += base[j] * W1t[j * H + k];
        memset(gb, 0, H * sizeof(float));
        for (int64_t i = 0; i < nb; i++) {
            int64_t r = order[a0 + i];
            int64_t arg = sample_step(W1t, W2, W2t, c, zero, iota, H, C, Cp, cap, i, nb, indices + indptr[r],
                                      values + indptr[r], indptr[r + 1] - indptr[r], labels[r], h + i * H, dh + i * H,
                                      z, Gt, gb);
            finite &= arg >= 0;
            predicted[a0 + i] = arg;
            correct += arg == labels[r];
        }
        for (int64_t q = 0; q < C; q++) /* ∂W2 = Gᵀ H */
            combine(g2 + q * H, zero, 0.0f, h, H, iota, Gt + q * cap, nb);
        batch_columns(order + a0, nb, d, indptr, indices, values, col_ptr, row_of, col_val);
        *step += 1;
        double bc1 = 1 - pow(beta1, (double)*step), bc2 = 1 - pow(beta2, (double)*step);
        AdamStep a = {beta1, beta2, t->lr * sqrt(bc2) / bc1, t->eps * sqrt(bc2), t->clamp};
        for (int64_t j = 0; j < d; j++) { /* row j of ∂W1ᵀ = base[j] · gb + Σ_i s_ij ∂h_i, then its Adam step */
            const int32_t *rows = row_of + col_ptr[j];
            const float *val = col_val + col_ptr[j];
            int64_t count = col_ptr[j + 1] - col_ptr[j];
            if (zero_in_batch(base[j], val, count))
                dense_column(grad, base[j], dh, H, nb, rows, val, count, x_col, at_col, zero);
            else
                combine(grad, gb, base[j], dh, H, rows, val, count);
            adam_update(W1t + j * H, t->m1 + j * H, t->v1 + j * H, grad, H, a);
        }
        adam_update(b1, t->mb, t->vb, gb, H, a);
        adam_update(W2, t->m2, t->v2, g2, C * H, a);
        transpose_padded(W2t, W2, H, C, Cp);
    }
    free(work);
    free(iwork);
    return finite ? correct : -1;
}

/* z[q] = Σ_k W[q·H + k] · h[k] for q < C (W: C × H): per row NV partial sums of V lanes, added up at the end */
static void matvec(float *restrict z, const float *restrict W, const float *restrict h, int64_t C, int64_t H)
{
    for (int64_t q = 0; q < C; q++) {
        const float *w = W + q * H;
        vf acc[NV] = {0};
        int64_t k = 0;
        for (; k + NV * V <= H; k += NV * V)
            for (int l = 0; l < NV; l++)
                acc[l] += *(const vf *)(w + k + l * V) * *(const vf *)(h + k + l * V);
        for (; k < H; k += V)
            acc[0] += *(const vf *)(w + k) * *(const vf *)(h + k);
        float sum = 0;
        for (int l = 0; l < NV; l++)
            for (int lane = 0; lane < V; lane++)
                sum += acc[l][lane];
        z[q] = sum;
    }
}

/* The arguments of mlp_forward (described like MLP_TRAINING's, by mlp_inference_fields) */
#define MLP_INFERENCE(X)                                                                                              \
    X(i64, n, )            /* rows of s */                                                                            \
    X(i64, d, )            /* features */                                                                             \
    X(i64, H, )            /* hidden width, a multiple of V */                                                        \
    X(i64, C, )            /* classes */                                                                              \
    X(i64, m, )            /* rows asked for */                                                                       \
    X(i64, nnz, )          /* entries of s */                                                                         \
    X(i64_ptr, indptr, n + 1)                                                                                         \
    X(i32_ptr, indices, nnz)                                                                                          \
    X(f32_ptr, values, nnz)                                                                                           \
    X(i64_ptr, rows, m)    /* the rows asked for, each in [0, n) */                                                   \
    X(f32_ptr, W1t, d, H)                                                                                             \
    X(f32_ptr, c, H)       /* W1 base + b1 */                                                                         \
    X(f32_ptr, W2, C, H)                                                                                              \
    X(f32_ptr, logits, m, C)                                                                                          \
    X(f32_ptr, emb, m, H)

DESCRIBED_STRUCT(MlpInference, MLP_INFERENCE, mlp_inference)

/* For each asked row r = rows[i], alone: emb_i = h = relu(s_r W1ᵀ + c) and logits_i = W2 h */
void mlp_forward(const MlpInference *t)
{
    const int64_t H = t->H, C = t->C, *indptr = t->indptr;
    for (int64_t i = 0; i < t->m; i++) {
        int64_t r = t->rows[i];
        float *h = t->emb + i * H;
        combine(h, t->c, 1.0f, t->W1t, H, t->indices + indptr[r], t->values + indptr[r], indptr[r + 1] - indptr[r]);
        for (int64_t k = 0; k < H; k++)
            h[k] = h[k] > 0 ? h[k] : 0;
        matvec(t->logits + i * C, t->W2, h, C, H);
    }
}

/* The arguments of sparse_count and sparse_fill (described by sparse_rows_fields): X as base + s, s in CSR */
#define SPARSE_ROWS(X)                                                                                                \
    X(i64, n, )            /* rows */                                                                                 \
    X(i64, d, )            /* features */                                                                             \
    X(i64, nnz, )          /* entries of s (0 while counting) */                                                      \
    X(f32_ptr, inputs, n, d)                                                                                          \
    X(f32_ptr, base, d)                                                                                               \
    X(i64_ptr, indptr, n + 1)                                                                                         \
    X(i32_ptr, indices, nnz)                                                                                          \
    X(f32_ptr, values, nnz)

DESCRIBED_STRUCT(SparseRows, SPARSE_ROWS, sparse_rows)

/* base_j = min_i X_ij; indptr[i + 1] = indptr[i] + #{j : X_ij − base_j ≠ 0}, indptr[0] = 0. Returns indptr[n]. */
int64_t sparse_count(const SparseRows *t)
{
    const int64_t n = t->n, d = t->d;
    const float *X = t->inputs;
    float *restrict base = t->base;
    memcpy(base, X, d * sizeof(float));
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            base[j] = X[i * d + j] < base[j] ? X[i * d + j] : base[j];
    t->indptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t count = 0;
        for (int64_t j = 0; j < d; j++)
            count += X[i * d + j] - base[j] != 0;
        t->indptr[i + 1] = t->indptr[i] + count;
    }
    return t->indptr[n];
}

/* indices and values of s = X − base's entries that are not 0, row after row, features ascending (indptr and base
 * from sparse_count). Where a later entry exists, every entry is written and the position advances past those that
 * are not 0 only (no branch to mispredict): a 0 written past row i's last entry lands on slot indptr[i + 1], which a
 * later row then overwrites. */
void sparse_fill(const SparseRows *t)
{
    const int64_t n = t->n, d = t->d, nnz = t->nnz;
    const float *restrict base = t->base;
    int32_t *restrict indices = t->indices;
    float *restrict values = t->values;
    int64_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *restrict x = t->inputs + i * d;
        if (t->indptr[i + 1] < nnz)
            for (int64_t j = 0; j < d; j++) {
                float s = x[j] - base[j];
                indices[p] = (int32_t)j;
                values[p] = s;
                p += s != 0;
            }
        else
            for (int64_t j = 0; j < d; j++) {
                float s = x[j] - base[j];
                if (s != 0) {
                    indices[p] = (int32_t)j;
                    values[p++] = s;
                }
            }
    }
}
