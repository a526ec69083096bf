/* One step of BAIT's greedy over a chunk of candidates (query_strategies/bait_sampling.py, CompiledDesign), in one
 * pass that reads each candidate's matrices once. Candidate i's C×C matrices are stored with the point axis last:
 * entry (a, b) at [(a·C + b)·stride + i]. With Tᵢ, T'ᵢ the C×C products of the change's rows with eᵢ (from the
 * caller's matrix product in the embeddings' float32 or float64: 2C² rows, t_stride apart) and
 * Ãᵢ = diag(rootᵢ)(I − 1pᵢᵀ):
 *   Gᵢ = Ãᵢ Tᵢ, Jᵢ = Ãᵢ T'ᵢ   (row a of ÃT is root_a·(T[a] − Σ_c p_c T[c])),
 *   Xᵢ ← Xᵢ − sign·GᵢGᵢᵀ,  Yᵢ ← Yᵢ − sign·(JᵢGᵢᵀ + GᵢJᵢᵀ),
 *   scoreᵢ = tr(Yᵢ(shift·I + Xᵢ)⁻¹) for shift = ±1 (shift·I + Xᵢ is definite then), by the Cholesky factor of
 *            I + shift·Xᵢ.
 * Without T only the scores are computed. W candidates are processed together, one per vector lane, in float64. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define W 4 /* candidates per vector */
#define AHEAD 16 /* how many candidates ahead the rows of X and Y are prefetched (the hardware follows few streams) */
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

/* entries (a, b .. b + nb) of X ← X − sign·GGᵀ and Y ← Y − sign·(JGᵀ + GJᵀ) in memory and in aug = [X | Y],
 * with their mirrors (b, a) where b ≠ a; nb independent sums per product, for the vector units' latency */
static inline __attribute__((always_inline)) void update_row(const Step *s, const int64_t C, int64_t i, int w,
                                                             const vd *restrict g, const vd *restrict j,
                                                             vd *restrict aug, int64_t a, int64_t b0, const int nb)
{
    const int64_t C2 = 2 * C;
    vd x[4] = {{0}}, jg[4] = {{0}}, gj[4] = {{0}};
    for (int64_t c = 0; c < C; c++) {
        vd ga = g[a * C + c], ja = j[a * C + c];
        for (int t = 0; t < nb; t++) {
            vd gb = g[(b0 + t) * C + c], jb = j[(b0 + t) * C + c];
            x[t] += ga * gb;
            jg[t] += ja * gb;
            gj[t] += jb * ga;
        }
    }
    for (int t = 0; t < nb; t++) {
        int64_t b = b0 + t, ab = (a * C + b) * s->xy_stride + i, ba = (b * C + a) * s->xy_stride + i;
        vd y = jg[t] + gj[t];
        __builtin_prefetch(s->X + ab + AHEAD, 1);
        __builtin_prefetch(s->Y + ab + AHEAD, 1);
        __builtin_prefetch(s->X + ba + AHEAD, 1);
        __builtin_prefetch(s->Y + ba + AHEAD, 1);
        vd xab = load(s->X + ab, w) - s->sign * x[t], yab = load(s->Y + ab, w) - s->sign * y;
        store(s->X + ab, xab, w);
        store(s->Y + ab, yab, w);
        aug[a * C2 + b] = xab;
        aug[a * C2 + C + b] = yab;
        if (b != a) {
            vd xba = load(s->X + ba, w) - s->sign * x[t], yba = load(s->Y + ba, w) - s->sign * y;
            store(s->X + ba, xba, w);
            store(s->Y + ba, yba, w);
            aug[b * C2 + a] = xba;
            aug[b * C2 + C + a] = yba;
        }
    }
}

/* X ← X − sign·GGᵀ and Y ← Y − sign·(JGᵀ + GJᵀ): the entries b ≥ a computed, four columns at a time */
static inline __attribute__((always_inline)) void update(const Step *s, const int64_t C, int64_t i, int w,
                                                         const vd *restrict g, const vd *restrict j,
                                                         vd *restrict aug)
{
    for (int64_t a = 0; a < C; a++) {
        int64_t b = a;
        for (; b + 4 <= C; b += 4)
            update_row(s, C, i, w, g, j, aug, a, b, 4);
        switch (C - b) {
        case 3: update_row(s, C, i, w, g, j, aug, a, b, 3); break;
        case 2: update_row(s, C, i, w, g, j, aug, a, b, 2); break;
        case 1: update_row(s, C, i, w, g, j, aug, a, b, 1); break;
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

/* tr(Y(shift·I + X)⁻¹) = shift·tr(L⁻¹YL⁻ᵀ) = shift·Σ_{k ≤ i} (L⁻¹)_ik (L⁻¹Y)_ik for shift = ±1, from aug = [X | Y]:
 * B = I + shift·X = LLᵀ (right-looking Cholesky in aug's X part, 1/L_jj in inv), then row by row Z = L⁻¹Y (in aug's
 * Y part) and K = L⁻¹ (in k, C² vectors); the rows' inner loops are independent sums, for the units' latency */
static inline __attribute__((always_inline)) vd trace_solve(const Step *s, const int64_t C, vd *restrict aug,
                                                            vd *restrict inv, vd *restrict k)
{
    const int64_t C2 = 2 * C;
    const double shift = s->shift;
    for (int64_t a = 0; a < C; a++)
        for (int64_t b = 0; b <= a; b++)
            aug[a * C2 + b] = (a == b) + shift * aug[a * C2 + b];
    for (int64_t q = 0; q < C; q++) {
        vd d = aug[q * C2 + q];
        for (int l = 0; l < W; l++)
            d[l] = sqrt(d[l]);
        inv[q] = 1 / d;
        for (int64_t a = q + 1; a < C; a++)
            aug[a * C2 + q] *= inv[q];
        for (int64_t a = q + 1; a < C; a++)
            for (int64_t b = q + 1; b <= a; b++)
                aug[a * C2 + b] -= aug[a * C2 + q] * aug[b * C2 + q];
    }
    vd trace = {0}, z[C], ka[C];
    for (int64_t a = 0; a < C; a++) {
        const vd *la = aug + a * C2;
        for (int64_t c = 0; c < C; c++) {
            z[c] = la[C + c];
            ka[c] = (vd){0};
        }
        for (int64_t b = 0; b < a; b++) {
            const vd *zb = aug + b * C2 + C, *kb = k + b * C, l = la[b];
            for (int64_t c = 0; c < C; c++) {
                z[c] -= l * zb[c];
                ka[c] -= l * kb[c];
            }
        }
        for (int64_t c = 0; c < C; c++) {
            aug[a * C2 + C + c] = z[c] * inv[a];
            k[a * C + c] = c == a ? inv[a] : ka[c] * inv[a];
            trace += k[a * C + c] * aug[a * C2 + C + c];
        }
    }
    return shift * trace;
}

/* candidates i .. i + w of the chunk; scratch: g, j (C² vectors each), aug (2C²), k (C²), root, probs, inv (C each) */
static inline __attribute__((always_inline)) void lanes(const Step *s, const int64_t C, int64_t i, int w,
                                                        vd *restrict scratch)
{
    vd *g = scratch, *j = g + C * C, *aug = j + C * C, *k = aug + 2 * C * C, *root = k + C * C, *probs = root + C,
       *inv = probs + C;
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
        store(s->score + i, trace_solve(s, C, aug, inv, k), w);
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
    vd *scratch = malloc(sizeof(vd) * (5 * s->C * s->C + 3 * s->C));
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
