/* One step of BAIT's greedy over a chunk of candidates (query_strategies/bait_sampling.py, CompiledDesign), in one
 * pass that reads each candidate's matrices once. Candidate i's C×C matrices are stored with the point axis last:
 * entry (a, b) at [(a·C + b)·stride + i]. With Tᵢ, T'ᵢ the C×C products of the change's rows with eᵢ (from the
 * caller's matrix product in the embeddings' float32 or float64: 2C² rows, t_stride apart) and Ãᵢ = diag(rootᵢ)(I − 1pᵢᵀ):
 *   Gᵢ = Ãᵢ Tᵢ, Jᵢ = Ãᵢ T'ᵢ   (row a of ÃT is root_a·(T[a] − Σ_c p_c T[c])),
 *   Xᵢ ← Xᵢ − sign·GᵢGᵢᵀ,  Yᵢ ← Yᵢ − sign·(JᵢGᵢᵀ + GᵢJᵢᵀ),
 *   scoreᵢ = tr(Yᵢ(shift·I + Xᵢ)⁻¹)
 *            for shift = ±1 (shift·I + Xᵢ is definite then), by the Cholesky factor of I + shift·Xᵢ.
 * Without T only the scores are computed. W candidates are processed together, one per vector lane, in float64. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define W 4 /* candidates per vector */
typedef double vd __attribute__((vector_size(W * sizeof(double)), aligned(sizeof(double))));
typedef float vf __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));

typedef struct {
    const void *T;         /* 2C² rows (T then T', each C×C row-major), t_stride apart; NULL: scores only */
    int64_t t_stride, t_double; /* T's entries are doubles (else floats) */
    const double *root;    /* C rows of n_stride: √(scaled) pᵢ */
    const double *probs;   /* C rows of n_stride: pᵢ */
    int64_t n_stride;
    double *X, *Y;         /* C² rows of xy_stride */
    int64_t xy_stride;
    double *score;         /* m values, or NULL */
    int64_t C, m;
    double sign, shift;
} Step;

/* w ≤ W lanes of p as a vector, zeros in the others */
static inline __attribute__((always_inline)) vd load(const double *p, int w)
{
    if (w == W)
        return *(const vd *)p;
    vd v = {0};
    for (int l = 0; l < w; l++)
        v[l] = p[l];
    return v;
}

static inline __attribute__((always_inline)) vd load_float(const float *p, int w)
{
    if (w == W)
        return __builtin_convertvector(*(const vf *)p, vd);
    vd v = {0};
    for (int l = 0; l < w; l++)
        v[l] = p[l];
    return v;
}

static inline __attribute__((always_inline)) void store(double *p, vd v, int w)
{
    if (w == W) {
        *(vd *)p = v;
        return;
    }
    for (int l = 0; l < w; l++)
        p[l] = v[l];
}

/* g = Ã T for the C×C block of T starting at row `first` (candidates i .. i + w) */
static inline __attribute__((always_inline)) void factor_times(const Step *s, const int64_t C, int64_t first,
                                                               int64_t i, int w, const vd *restrict root,
                                                               const vd *restrict probs, vd *restrict g)
{
    for (int64_t a = 0; a < C; a++)
        for (int64_t c = 0; c < C; c++)
            g[a * C + c] = s->t_double ? load((const double *)s->T + (first + a * C + c) * s->t_stride + i, w)
                                       : load_float((const float *)s->T + (first + a * C + c) * s->t_stride + i, w);
    for (int64_t c = 0; c < C; c++) {
        vd sum = probs[0] * g[c];
        for (int64_t a = 1; a < C; a++)
            sum += probs[a] * g[a * C + c];
        for (int64_t a = 0; a < C; a++)
            g[a * C + c] = root[a] * (g[a * C + c] - sum);
    }
}

/* X ← X − sign·GGᵀ and Y ← Y − sign·(JGᵀ + GJᵀ) in memory; aug = [shift·I + X | Y] of the new values */
static inline __attribute__((always_inline)) void update(const Step *s, const int64_t C, int64_t i, int w,
                                                         const vd *restrict g, const vd *restrict j,
                                                         vd *restrict aug)
{
    const int64_t C2 = 2 * C;
    for (int64_t a = 0; a < C; a++)
        for (int64_t b = a; b < C; b++) {
            vd x = g[a * C] * g[b * C], jg = j[a * C] * g[b * C], gj = j[b * C] * g[a * C];
            for (int64_t c = 1; c < C; c++) {
                x += g[a * C + c] * g[b * C + c];
                jg += j[a * C + c] * g[b * C + c];
                gj += j[b * C + c] * g[a * C + c];
            }
            vd y = jg + gj;
            int64_t ab = (a * C + b) * s->xy_stride + i, ba = (b * C + a) * s->xy_stride + i;
            vd xab = load(s->X + ab, w) - s->sign * x, yab = load(s->Y + ab, w) - s->sign * y;
            store(s->X + ab, xab, w);
            store(s->Y + ab, yab, w);
            aug[a * C2 + b] = xab;
            aug[a * C2 + C + b] = yab;
            if (b != a) {
                vd xba = load(s->X + ba, w) - s->sign * x, yba = load(s->Y + ba, w) - s->sign * y;
                store(s->X + ba, xba, w);
                store(s->Y + ba, yba, w);
                aug[b * C2 + a] = xba;
                aug[b * C2 + C + a] = yba;
            }
        }
}

/* aug = [X | Y] read from memory */
static inline __attribute__((always_inline)) void gather(const Step *s, const int64_t C, int64_t i, int w,
                                                         vd *restrict aug)
{
    const int64_t C2 = 2 * C;
    for (int64_t a = 0; a < C; a++)
        for (int64_t b = 0; b < C; b++) {
            aug[a * C2 + b] = load(s->X + (a * C + b) * s->xy_stride + i, w);
            aug[a * C2 + C + b] = load(s->Y + (a * C + b) * s->xy_stride + i, w);
        }
}

/* tr(Y(shift·I + X)⁻¹) = shift·tr(L⁻¹YL⁻ᵀ) for shift = ±1, from aug = [X | Y]: B = I + shift·X = LLᵀ (Cholesky,
 * L in aug's X part, 1/L_jj in inv), Z = L⁻¹Y (in aug's Y part), then Σ_i (L⁻¹Zᵀ)_ii (column by column in v) */
static inline __attribute__((always_inline)) vd trace_solve(const Step *s, const int64_t C, vd *restrict aug,
                                                            vd *restrict inv, vd *restrict v)
{
    const int64_t C2 = 2 * C;
    const double shift = s->shift;
    for (int64_t j = 0; j < C; j++) {
        vd *lj = aug + j * C2, d = 1 + shift * lj[j];
        for (int64_t k = 0; k < j; k++)
            d -= lj[k] * lj[k];
        for (int l = 0; l < W; l++)
            d[l] = sqrt(d[l]);
        inv[j] = 1 / d;
        lj[j] = d;
        for (int64_t i = j + 1; i < C; i++) {
            vd *li = aug + i * C2, e = shift * li[j];
            for (int64_t k = 0; k < j; k++)
                e -= li[k] * lj[k];
            li[j] = e * inv[j];
        }
    }
    for (int64_t col = 0; col < C; col++)
        for (int64_t i = 0; i < C; i++) {
            vd *li = aug + i * C2, z = li[C + col];
            for (int64_t k = 0; k < i; k++)
                z -= li[k] * aug[k * C2 + C + col];
            li[C + col] = z * inv[i];
        }
    vd trace = {0};
    for (int64_t col = 0; col < C; col++) {
        for (int64_t i = 0; i <= col; i++) {
            vd *li = aug + i * C2, x = aug[col * C2 + C + i];
            for (int64_t k = 0; k < i; k++)
                x -= li[k] * v[k];
            v[i] = x * inv[i];
        }
        trace += v[col];
    }
    return shift * trace;
}

/* candidates i .. i + w of the chunk; scratch: g, j (C² vectors each), aug (2C²), root, probs, inv, v (C each) */
static inline __attribute__((always_inline)) void lanes(const Step *s, const int64_t C, int64_t i, int w,
                                                        vd *restrict scratch)
{
    vd *g = scratch, *j = g + C * C, *aug = j + C * C, *root = aug + 2 * C * C, *probs = root + C, *inv = probs + C,
       *v = inv + C;
    if (s->T) {
        for (int64_t a = 0; a < C; a++) {
            root[a] = load(s->root + a * s->n_stride + i, w);
            probs[a] = load(s->probs + a * s->n_stride + i, w);
        }
        factor_times(s, C, 0, i, w, root, probs, g);
        factor_times(s, C, C * C, i, w, root, probs, j);
        update(s, C, i, w, g, j, aug);
    } else {
        gather(s, C, i, w, aug);
    }
    if (s->score)
        store(s->score + i, trace_solve(s, C, aug, inv, v), w);
}

/* every candidate of the chunk, C given as a constant where the caller can (the loops are then unrolled) */
static inline __attribute__((always_inline)) void chunk(const Step *s, const int64_t C, vd *restrict scratch)
{
    int64_t i = 0;
    for (; i + W <= s->m; i += W)
        lanes(s, C, i, W, scratch);
    if (i < s->m)
        lanes(s, C, i, (int)(s->m - i), scratch);
}

/* 0, or −2 when the scratch space could not be allocated */
int64_t bait_step(const Step *s)
{
    vd *scratch = malloc(sizeof(vd) * (4 * s->C * s->C + 4 * s->C));
    if (!scratch)
        return -2;
    if (s->C == 10)
        chunk(s, 10, scratch);
    else
        chunk(s, s->C, scratch);
    free(scratch);
    return 0;
}

int64_t bait_step_size(void) { return sizeof(Step); }
