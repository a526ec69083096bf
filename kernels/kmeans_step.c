/* scikit-learn's MiniBatchKMeans, the parts between matrix products (query_strategies/minibatch_kmeans.py runs the
 * loop, draws the random numbers and computes the products with BLAS):
 *   kpp_step  one k-means++ round: each candidate's potential Σᵢ min(D²ᵢ, d²(xᵢ, x_c)), the least kept, and the next
 *             round's candidates searched in the cumulative sum of D²;
 *   nearest   each row's nearest centre, argminⱼ ‖cⱼ‖² − 2x·cⱼ, from float32 products, rows in doubt ranked again
 *             in float64;
 *   update    the batch's inertia Σ‖xᵢ − c_{label i}‖² and the centres' running means in scikit-learn's order.
 * Every float decision must clear a bound on the rounding that separates this evaluation from scikit-learn's; when
 * one does not, the function returns NEAR_TIE and the caller runs scikit-learn itself. Built with
 * -ffp-contract=off: the centre sums must round as scikit-learn's do. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEAR_TIE (-1)
#define EPS 0x1p-52
#define EPS32 0x1p-23
#define W 4 /* doubles per vector */
#define LANES 8 /* floats per vector */
#define AHEAD 4 /* rows prefetched ahead of the copy */
typedef double vd __attribute__((vector_size(W * sizeof(double)), aligned(sizeof(double))));
typedef float vf __attribute__((vector_size(LANES * sizeof(float)), aligned(sizeof(float))));
typedef int32_t vi __attribute__((vector_size(LANES * sizeof(int32_t))));

typedef struct {
    int64_t m, d, t, u_t;   /* rows, features, candidates, next candidates */
    const double *x, *sq;   /* m × d rows and their squared norms */
    const float *prod;      /* t × m: x32_{cand j} · x32_i, the rows in float32 */
    const double *slack;    /* m: bound on the float32 d² less the float64 one, plus the float64 one's error */
    const int64_t *cand;    /* t row indices */
    double *closest;        /* m: D²ᵢ, updated to the kept candidate's minima */
    double *work;           /* t × m scratch */
    double *pot;            /* 1: Σ D², updated */
    const double *u;        /* u_t uniforms for the next round, or NULL */
    int64_t *next;          /* u_t: the next round's candidates */
    double err_sum;         /* Σᵢ of the rounding bound of D²ᵢ */
} Kpp;

typedef struct {
    int64_t b, k, d;
    const double *x, *sq;   /* all rows and their squared norms */
    const int64_t *rows;    /* b row indices */
    const float *prod;      /* b × k: x32_row · c32_j */
    const double *centres;  /* k × d */
    double *csq;            /* k scratch: ‖cⱼ‖² */
    float *csq32;           /* k scratch: the same in float32 */
    int64_t *labels;        /* b: out */
} Nearest;

typedef struct {
    int64_t b, k, d;
    const double *x;
    const int64_t *rows, *labels;
    double *centres, *counts; /* k × d, k: updated */
    int64_t *order;         /* b scratch */
    double ratio;           /* the reassignment ratio */
    double *out;            /* 4: Σ‖xᵢ − cᵢ‖², its rounding bound, how many counts are < ratio × the largest, and
                               how many are 0 (after the update) */
} Update;

int64_t kpp_size(void) { return sizeof(Kpp); }
int64_t nearest_size(void) { return sizeof(Nearest); }
int64_t update_size(void) { return sizeof(Update); }

/* a·b summed in two vectors of partial sums (every bound here holds in any order of summation) */
static double dot(const double *a, const double *b, int64_t d)
{
    vd s0 = {0}, s1 = {0};
    int64_t f = 0;
    for (; f + 2 * W <= d; f += 2 * W) {
        s0 += *(const vd *)(a + f) * *(const vd *)(b + f);
        s1 += *(const vd *)(a + f + W) * *(const vd *)(b + f + W);
    }
    s0 += s1;
    double s = s0[0] + s0[1] + s0[2] + s0[3];
    for (; f < d; f++)
        s += a[f] * b[f];
    return s;
}

/* ‖x − c‖², summed likewise */
static double squared_distance(const double *x, const double *c, int64_t d)
{
    vd s0 = {0}, s1 = {0};
    int64_t f = 0;
    for (; f + 2 * W <= d; f += 2 * W) {
        vd u = *(const vd *)(x + f) - *(const vd *)(c + f), v = *(const vd *)(x + f + W) - *(const vd *)(c + f + W);
        s0 += u * u;
        s1 += v * v;
    }
    s0 += s1;
    double s = s0[0] + s0[1] + s0[2] + s0[3];
    for (; f < d; f++)
        s += (x[f] - c[f]) * (x[f] - c[f]);
    return s;
}

/* The index at which uniform·pot falls in the cumulative sums (the first cum ≥ it, the last when none), or NEAR_TIE
 * when it lies within `margin` of a sum around it. */
static int64_t drawn(const double *cum, int64_t m, double r, double margin)
{
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t at = lo < m - 1 ? lo : m - 1;
    double below = at > 0 ? cum[at - 1] : -INFINITY, above = at < m - 1 ? cum[at] : INFINITY;
    return r - below <= margin || above - r < margin ? NEAR_TIE : at;
}

/* One k-means++ round: the kept candidate (the first of least potential) or NEAR_TIE when a candidate at other
 * coordinates is within `margin` of it; then, with u, the next candidates. margin = 2(Σ err + 2mε·pot) bounds twice
 * the difference of every potential and cumulative sum from scikit-learn's. Each min(D²ᵢ, d²) is that of a float64
 * d²: the float32 d² decides it where it exceeds D²ᵢ by more than slackᵢ, the float64 d² elsewhere. */
int64_t kpp_step(const Kpp *a)
{
    int64_t m = a->m, d = a->d, best = 0;
    double margin = 2 * (a->err_sum + 2 * m * EPS * *a->pot), pots[a->t];
    for (int64_t j = 0; j < a->t; j++) {
        const float *p = a->prod + j * m;
        const double *c = a->x + a->cand[j] * d;
        double *w = a->work + j * m, s = 0, sc = a->sq[a->cand[j]];
        for (int64_t i = 0; i < m; i++) {
            double d2 = sc + a->sq[i] - 2.0 * p[i];
            if (d2 - a->slack[i] <= a->closest[i])
                d2 = fmax(sc + a->sq[i] - 2 * dot(a->x + i * d, c, d), 0);
            w[i] = d2 < a->closest[i] ? d2 : a->closest[i];
            s += w[i];
        }
        pots[j] = s;
        if (s < pots[best])
            best = j;
    }
    const double *cb = a->x + a->cand[best] * d;
    for (int64_t j = 0; j < a->t; j++)
        if (pots[j] - pots[best] <= margin && memcmp(a->x + a->cand[j] * d, cb, d * sizeof(double)))
            return NEAR_TIE;
    memcpy(a->closest, a->work + best * m, m * sizeof(double));
    *a->pot = pots[best];
    if (a->u) {
        double *cum = a->work, s = 0;
        for (int64_t i = 0; i < m; i++)
            cum[i] = s += a->closest[i];
        margin = 2 * (a->err_sum + 2 * m * EPS * *a->pot);
        for (int64_t j = 0; j < a->u_t; j++)
            if ((a->next[j] = drawn(cum, m, a->u[j] * *a->pot, margin)) == NEAR_TIE)
                return NEAR_TIE;
    }
    return best;
}

/* rows[i] = the first index whose cdf exceeds u[i] (numpy's searchsorted, side "right"), found from the guess
 * ⌊u·n⌋ by steps, for the non-decreasing cdf of n values. */
void draw_rows(const double *cdf, int64_t n, const double *u, int64_t b, int64_t *rows)
{
    for (int64_t i = 0; i < b; i++) {
        int64_t at = (int64_t)(u[i] * n);
        at = at < 0 ? 0 : at > n ? n : at;
        while (at > 0 && cdf[at - 1] > u[i])
            at--;
        while (at < n && cdf[at] <= u[i])
            at++;
        rows[i] = at;
    }
}

/* The least of the k values v (LANES·⌈k/LANES⌉ slots, +∞ past k), by a vector of running minima. */
static float least(const float *v, int64_t k)
{
    vf low = *(const vf *)v;
    for (int64_t j = LANES; j < k; j += LANES) {
        vf u = *(const vf *)(v + j);
        vi less = u < low;
        low = (vf)(((vi)u & less) | ((vi)low & ~less));
    }
    float best = low[0];
    for (int l = 1; l < LANES; l++)
        best = low[l] < best ? low[l] : best;
    return best;
}

/* Row i's label: the float32 screen's nearest centre (vⱼ = ‖cⱼ‖² − 2x·cⱼ in float32) when every other lies more
 * than the screen's error E32 plus scikit-learn's E64 farther, with E32 = 2(d + 6)ε₃₂(‖x‖ + R)²,
 * E64 = 2(d + 3)ε(‖x‖ + R)², R the largest centre norm; else the float64 nearest of the centres within that
 * distance, which must lead every centre at other coordinates by more than E64 (else NEAR_TIE). Equal centres have
 * equal values: the first is taken. v: scratch of LANES·⌈k/LANES⌉ floats. */
static int64_t label(const Nearest *a, int64_t i, double reach2, float *v)
{
    const float *p = a->prod + i * a->k;
    const double *x = a->x + a->rows[i] * a->d;
    double e64 = 2 * (a->d + 3) * EPS * reach2, e = 2 * (a->d + 6) * EPS32 * reach2 + e64;
    int64_t j = 0;
    for (; j + LANES <= a->k; j += LANES)
        *(vf *)(v + j) = *(const vf *)(a->csq32 + j) - 2 * *(const vf *)(p + j);
    for (; j < a->k; j++)
        v[j] = a->csq32[j] - 2 * p[j];
    float best = least(v, a->k);
    int64_t j0 = 0;
    while (v[j0] != best)
        j0++;
    v[j0] = INFINITY;
    if ((double)least(v, a->k) - best > e)
        return j0;
    v[j0] = best;
    double near[a->k], b64 = INFINITY;
    for (j = 0; j < a->k; j++) {
        near[j] = v[j] <= best + e ? a->csq[j] - 2 * dot(x, a->centres + j * a->d, a->d) : INFINITY;
        if (near[j] < b64) {
            b64 = near[j];
            j0 = j;
        }
    }
    const double *c0 = a->centres + j0 * a->d;
    for (j = 0; j < a->k; j++)
        if (j != j0 && near[j] - b64 <= e64 && memcmp(a->centres + j * a->d, c0, a->d * sizeof(double)))
            return NEAR_TIE;
    return j0;
}

/* Every row's label (label()); NEAR_TIE when one is in doubt. */
int64_t nearest(const Nearest *a)
{
    int64_t k = a->k, slots = (k + LANES - 1) / LANES * LANES;
    float v[slots];
    double r2 = 0;
    for (int64_t j = 0; j < k; j++) {
        a->csq[j] = dot(a->centres + j * a->d, a->centres + j * a->d, a->d);
        a->csq32[j] = (float)a->csq[j];
        r2 = fmax(r2, a->csq[j]);
    }
    for (int64_t j = k; j < slots; j++)
        v[j] = INFINITY;
    for (int64_t i = 0; i < a->b; i++) {
        double reach = sqrt(a->sq[a->rows[i]]) + sqrt(r2);
        if ((a->labels[i] = label(a, i, reach * reach, v)) == NEAR_TIE)
            return NEAR_TIE;
    }
    return 0;
}

/* c ← c·s, elementwise */
static void scale(double *c, double s, int64_t d)
{
    int64_t f = 0;
    for (; f + W <= d; f += W)
        *(vd *)(c + f) *= s;
    for (; f < d; f++)
        c[f] *= s;
}

/* c ← c + x, elementwise */
static void add(double *c, const double *x, int64_t d)
{
    int64_t f = 0;
    for (; f + W <= d; f += W)
        *(vd *)(c + f) += *(const vd *)(x + f);
    for (; f < d; f++)
        c[f] += x[f];
}

/* The batch's inertia Σ‖xᵢ − c_{label i}‖² with its bound 2(d + 2b + 8)ε·Σ on the difference from scikit-learn's;
 * then each centre with points c ← (c·w + Σ x in batch order) · (1 / (w + n)), w ← w + n: scikit-learn's running
 * mean, operation for operation. Each centre's rows are taken together (their inertia first, on the old centre).
 * Last, the counts below the reassignment threshold and at 0. */
void update(const Update *a)
{
    int64_t d = a->d, start[a->k + 1], fill[a->k];
    double total = 0;
    memset(start, 0, sizeof start);
    for (int64_t i = 0; i < a->b; i++)
        start[a->labels[i] + 1]++;
    for (int64_t j = 0; j < a->k; j++)
        start[j + 1] += start[j];
    memcpy(fill, start, sizeof fill);
    for (int64_t i = 0; i < a->b; i++)
        a->order[fill[a->labels[i]]++] = a->rows[i];
    for (int64_t j = 0; j < a->k; j++) {
        if (start[j + 1] == start[j])
            continue;
        double *c = a->centres + j * d;
        for (int64_t i = start[j]; i < start[j + 1]; i++)
            total += squared_distance(a->x + a->order[i] * d, c, d);
        scale(c, a->counts[j], d);
        for (int64_t i = start[j]; i < start[j + 1]; i++)
            add(c, a->x + a->order[i] * d, d);
        a->counts[j] += (double)(start[j + 1] - start[j]);
        scale(c, 1 / a->counts[j], d);
    }
    double top = 0;
    int64_t low = 0, empty = 0;
    for (int64_t j = 0; j < a->k; j++)
        top = fmax(top, a->counts[j]);
    for (int64_t j = 0; j < a->k; j++) {
        low += a->counts[j] < a->ratio * top;
        empty += a->counts[j] == 0;
    }
    a->out[0] = total;
    a->out[1] = 2 * (d + 2 * a->b + 8) * EPS * total;
    a->out[2] = (double)low;
    a->out[3] = (double)empty;
}

/* Rows `rows` of x (n × d) copied to xb (b × d), in float32 to xb32, their squared norms to sqb; the row AHEAD
 * places on is prefetched (rows drawn at random: the hardware cannot foresee them). */
void gather(const double *x, const double *sq, const int64_t *rows, int64_t b, int64_t d, double *xb, float *xb32,
            double *sqb)
{
    for (int64_t i = 0; i < b; i++) {
        const double *r = x + rows[i] * d;
        if (i + AHEAD < b)
            for (int64_t f = 0; f < d; f += 64 / sizeof(double))
                __builtin_prefetch(x + rows[i + AHEAD] * d + f);
        memcpy(xb + i * d, r, d * sizeof(double));
        for (int64_t f = 0; f < d; f++)
            xb32[i * d + f] = (float)r[f];
        sqb[i] = sq[rows[i]];
    }
}
