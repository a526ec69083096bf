"""Uncertainty herding (query_strategies/uherding.py) against slow references written from the paper's definition:
plain greedy maximisation of UC(S) = Σ_i u_i max_{j ∈ L ∪ S} k(x_i, x_j), evaluated from scratch for every
candidate; the expected calibration error bin by bin and the temperature of least ECE; the adaptive radius over every
pair of labelled points. With every uncertainty 1 the greedy is scikit-activeml's MaxHerding (the installed peer).
The strategy's adaptations through a trained network on digits: held-out calibration that leaves the run's network
and generator alone, and the fixed-flag path that is the former behaviour."""
import math

import numpy as np
import pytest
import torch

import dataset
from learner import Learner
from query_strategies.fass import weighted_facility_location_greedy
from query_strategies.power_sampling import margin_power_score
from query_strategies.selection import normalised
from query_strategies.uherding import (FALLBACK_SIGMA, RECHECK_BLOCK, TEMPERATURES, UncertaintyHerding,
                                       adaptive_sigma, expected_calibration_errors, initial_gain_bounds, kernel_noise,
                                       kernel_radius, labelled_coverage, least_ece_temperature, uherding_select,
                                       validation_split)
from strategy_params import SIGMA_CEILING, SIGMA_FLOOR


def unit(v):
    norm = math.sqrt(sum(a * a for a in v))
    return [a / norm for a in v]


def kernel(a, b, sigma):
    return math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * sigma ** 2))


def coverage(S, x, labelled, u, sigma):
    """UC(S) = Σ_i u_i max(0, max over the labelled points and S of k(x_i, ·))."""
    centres = labelled + [x[j] for j in S]
    return sum(u[i] * max([0.0] + [kernel(x[i], c, sigma) for c in centres]) for i in range(len(x)))


def reference_uherding(probs, emb, labelled_emb, k, sigma):
    u = [1 - (sorted(row)[-1] - sorted(row)[-2]) for row in probs.tolist()]
    x = [unit(row) for row in emb.tolist()]
    labelled = [unit(row) for row in labelled_emb.tolist()]
    S, gains = [], []
    for _ in range(k):
        base = coverage(S, x, labelled, u, sigma)
        gain = {j: coverage(S + [j], x, labelled, u, sigma) - base for j in range(len(x)) if j not in S}
        j = max(gain, key=lambda j: gain[j])
        S.append(j)
        gains.append(gain[j])
    return S, gains


@pytest.mark.parametrize("n,n_lab,d,C,k,sigma,seed", [(40, 0, 5, 3, 6, 0.5, 0), (30, 5, 3, 4, 10, 0.3, 1),
                                                      (50, 10, 8, 2, 8, 1.0, 2), (70, 3, 4, 5, 12, 0.2, 3)])
def test_same_picks_as_plain_greedy(n, n_lab, d, C, k, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    labelled_emb = torch.randn(n_lab, d, generator=g, dtype=torch.float64)
    got = uherding_select(probs, emb, labelled_emb, k, torch.Generator(), sigma=sigma)
    rows, gains = reference_uherding(probs, emb, labelled_emb, k, sigma)
    assert got.index.tolist() == rows
    np.testing.assert_allclose(got.score, gains, rtol=1e-9)


def groups():
    """Three tight groups of 5 uncertain points (rows 0-14) on the axes, then 45 certain points spread out."""
    g = torch.Generator().manual_seed(0)
    emb = torch.cat([torch.eye(3, dtype=torch.float64).repeat_interleave(5, 0)
                     + 0.01 * torch.randn(15, 3, generator=g, dtype=torch.float64),
                     torch.rand(45, 3, generator=g, dtype=torch.float64) - 0.5])
    probs = torch.cat([torch.full((15, 2), 0.5, dtype=torch.float64),
                       torch.tensor([[0.99, 0.01]], dtype=torch.float64).repeat(45, 1)])
    return probs, emb


def test_one_pick_per_uncertain_group():
    probs, emb = groups()
    got = uherding_select(probs, emb, emb[:0], 3, torch.Generator(), sigma=0.2).index
    assert sorted(got // 5) == [0, 1, 2]


def test_a_group_covered_by_a_labelled_point_is_left_alone():
    probs, emb = groups()
    got = uherding_select(probs, emb, emb[:1], 2, torch.Generator(), sigma=0.2).index
    assert sorted(got // 5) == [1, 2]


def reference_ece(logits, labels, temperature, n_bins):
    """Σ over bins ((b−1)/n_bins, b/n_bins] of (share of points) · |accuracy − mean confidence|, point by point."""
    total = 0.0
    rows = [[math.exp(z / temperature) for z in row] for row in logits.tolist()]
    conf = [max(r) / sum(r) for r in rows]
    right = [r.index(max(r)) == y for r, y in zip(rows, labels.tolist())]
    for b in range(1, n_bins + 1):
        members = [i for i, c in enumerate(conf) if (b - 1) / n_bins < c <= b / n_bins]
        if members:
            accuracy = sum(right[i] for i in members) / len(members)
            confidence = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(accuracy - confidence)
    return total


def reference_temperature(logits, labels, temperatures, n_bins):
    best, best_t = math.inf, None
    for t in temperatures.tolist():
        ece = reference_ece(logits, labels, t, n_bins)
        if ece < best:
            best, best_t = ece, t
    return best_t


@pytest.mark.parametrize("n,C,n_bins,scale,seed", [(30, 3, 3, 4.0, 0), (50, 10, 10, 8.0, 1), (17, 26, 15, 2.0, 2),
                                                   (40, 2, 5, 20.0, 3)])
def test_ece_and_its_temperature_match_a_bin_by_bin_reference(n, C, n_bins, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, C, generator=g, dtype=torch.float64)
    labels = torch.randint(C, (n,), generator=g)
    temperatures = TEMPERATURES[::7]
    got = expected_calibration_errors(logits, labels, temperatures, n_bins)
    want = [reference_ece(logits, labels, t, n_bins) for t in temperatures.tolist()]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert least_ece_temperature(logits, labels, temperatures, n_bins) == reference_temperature(logits, labels,
                                                                                               temperatures, n_bins)


def test_a_confidence_on_a_bin_edge_falls_in_the_lower_bin():
    """Two bins (0, 0.5] and (0.5, 1]: a right prediction of confidence exactly 0.5 (gap +0.5) stays apart from a
    wrong one of confidence 0.9 (gap −0.9): ECE (0.5 + 0.9)/2, not |0.5 − 0.9|/2 as in one bin."""
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(9)]], dtype=torch.float64)
    labels = torch.tensor([0, 0])
    ece = float(expected_calibration_errors(logits, labels, torch.tensor([1.0], dtype=torch.float64), 2))
    assert ece == pytest.approx(reference_ece(logits, labels, 1.0, 2)) == pytest.approx(0.7)


def test_the_least_ece_temperature_undoes_a_known_overconfidence():
    """Labels drawn from softmax(z / 3) for logits z: the temperature of least ECE is close to 3."""
    g = torch.Generator().manual_seed(0)
    logits = 6 * torch.randn(20000, 5, generator=g, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(logits / 3, 1), 1, generator=g).squeeze(1)
    assert abs(least_ece_temperature(logits, labels) - 3) <= 0.3
    assert least_ece_temperature(logits, torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)) < 1.3


def reference_radius(emb):
    unit_rows = [unit(row) for row in emb.tolist()]
    distances = [d for i, a in enumerate(unit_rows) for b in unit_rows[i + 1:] if (d := math.dist(a, b)) > 1e-9]
    return min(distances) / math.sqrt(2) if distances else None


@pytest.mark.parametrize("n,d,seed", [(2, 3, 0), (9, 4, 1), (40, 8, 2), (300, 5, 3)])
def test_the_radius_is_the_smallest_distinct_labelled_distance_over_root_two(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    emb = torch.cat([emb, emb[:2], 3 * emb[:1]])  # duplicates and a scaled copy: one point on the unit sphere
    radius = kernel_radius(emb)
    assert radius == pytest.approx(reference_radius(emb), rel=1e-12) and radius > 1e-3


def test_no_radius_without_two_distinct_labelled_points():
    row = torch.tensor([[1.0, 2.0]])
    assert kernel_radius(row) is None and kernel_radius(torch.cat([row, 2 * row])) is None
    assert kernel_radius(row[:0]) is None


def test_the_radius_shrinks_as_labels_fill_the_space():
    emb = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    radii = [kernel_radius(emb[:m]) for m in (10, 100, 1000, 2000)]
    assert radii == sorted(radii, reverse=True) and radii[0] > 4 * radii[-1]


def test_the_validation_split_holds_out_30_percent_drawn_from_the_generator():
    fit, held_out = validation_split(20, torch.Generator().manual_seed(5))
    assert len(held_out) == 6 and sorted([*fit, *held_out]) == list(range(20))
    again = validation_split(20, torch.Generator().manual_seed(5))
    assert held_out.tolist() == again[1].tolist()
    assert held_out.tolist() != validation_split(20, torch.Generator().manual_seed(6))[1].tolist()
    assert len(validation_split(3, torch.Generator())[1]) == 0


@pytest.mark.parametrize("n,n_lab,d,k,sigma,seed", [(60, 0, 4, 8, 0.4, 0), (80, 6, 5, 10, 0.3, 1),
                                                    (50, 20, 3, 12, 0.6, 2), (120, 10, 16, 15, 0.8, 3)])
def test_with_every_uncertainty_one_each_pick_is_maxherdings(n, n_lab, d, k, sigma, seed):
    """scikit-activeml 1.0.1's MaxHerding on the same points: unit-norm rows (normalize_samples), the RBF kernel
    exp(−γ‖x − x'‖²) with γ = 1/(2σ²), labelled rows covering the candidates; its utility is the mean gain over the
    candidates where ours is the sum. Uniform probabilities make every margin uncertainty 1. Each of our picks,
    given the ones before it as labelled, is one of MaxHerding's best candidates (up to rounding) with our gain as
    its utility: two near points that only cover each other tie in exact arithmetic, which of them the floats
    favour depends on the CPU's rounding (seen: an AMD and an Intel x86-64 differ), and MaxHerding breaks ties at
    random."""
    from skactiveml.pool import MaxHerding

    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    labelled_emb = torch.randn(n_lab, d, generator=g, dtype=torch.float64)
    got = uherding_select(torch.full((n, 3), 1 / 3, dtype=torch.float64), emb, labelled_emb, k, torch.Generator(),
                          sigma=sigma)
    X = torch.cat([labelled_emb, emb]).numpy()
    peer = MaxHerding(metric="rbf", metric_dict={"gamma": 1 / (2 * sigma ** 2)}, random_state=0)
    for b, (row, gain) in enumerate(zip(got.index, got.score)):
        y = np.full(n_lab + n, np.nan)
        y[:n_lab] = 0
        y[n_lab + got.index[:b]] = 0
        utility = peer.query(X, y, return_utilities=True)[1][0, n_lab:]
        best = np.nanmax(utility)
        assert np.isclose(utility[row], best, rtol=1e-12, atol=0), (row, utility[row], best)
        assert gain / (n - b) == pytest.approx(best, rel=1e-9)  # the picks before are no candidates now


def trained_digits(n_labelled=60):
    """A learner trained on digits' first n_labelled pool points (mlp, 32-wide embeddings) and the labelled mask."""
    ds = dataset.load_digits(np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, max_epochs=30)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[:n_labelled] = True
    learner.train(np.flatnonzero(labeled))
    return learner, labeled


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("sigma", [1e-4, 1e-5])
def test_a_narrow_kernel_picks_the_most_uncertain_points_apart(sigma):
    """With σ far below the distances, each point covers only itself: the picks are the k largest uncertainties
    (points of 8 random features, none labelled nearby). The noise bound of the kernel was absolute, (d + 6)ε/σ²
    for every entry, so at σ = 1e-5 gains 0.6 % apart counted as ties and went to the lowest row."""
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(200, 5, generator=g, dtype=torch.float64), 1)
    emb, labelled = torch.randn(200, 8, generator=g, dtype=torch.float64), torch.randn(10, 8, generator=g)
    want = margin_power_score(probs).topk(5).indices.tolist()
    assert uherding_select(probs, emb, labelled, 5, torch.Generator(), sigma).index.tolist() == want


def test_at_the_ends_of_the_kernel_width_flags_range_the_picks_are_its_limits():
    """512-wide embeddings: at σ = SIGMA_FLOOR each point covers only itself, so the picks are the largest
    uncertainties; at SIGMA_CEILING the kernel is 1 − D/(2σ²) to float64's precision, whose greedy picks do not depend
    on σ, so they are σ = 100's. Beyond the range (1e-6, 1e8, once valid values) the picks went by row."""
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(50, 4, generator=g, dtype=torch.float64), 1)
    emb, labelled = (torch.randn(m, 512, generator=g, dtype=torch.float64) for m in (50, 5))

    def chosen(sigma):
        return uherding_select(probs, emb, labelled, 5, torch.Generator(), sigma).index.tolist()
    assert chosen(SIGMA_FLOOR) == margin_power_score(probs).topk(5).indices.tolist()
    assert chosen(SIGMA_CEILING) == chosen(100.0) != list(range(5))


def test_auto_width_of_two_all_but_equal_labelled_points_is_the_floor():
    """Two labelled points 1e-8 apart (distinct: more than SAME_POINT) made σ = 7e-9, where the picks go by row."""
    row = torch.zeros(1, 6, dtype=torch.float64)
    row[0, 0] = 1
    near = row.clone()
    near[0, 1] = 1e-8
    assert adaptive_sigma(torch.cat([row, near])) == SIGMA_FLOOR


def test_fixed_flags_pick_as_the_plain_softmax_and_width_did():
    learner, labeled = trained_digits()
    predictor = learner.predictor
    strategy = UncertaintyHerding(predictor, labeled, torch.Generator(), kernel_sigma=0.5, uherding_temperature=1.0)
    unlabelled = np.flatnonzero(~labeled)
    probs, emb = predictor.probs_embeddings(unlabelled)
    want = uherding_select(probs, emb, predictor.embeddings(np.flatnonzero(labeled)), 10, torch.Generator(), 0.5)
    assert strategy.query(10).index.tolist() == unlabelled[want.index].tolist()


@pytest.mark.filterwarnings("ignore:training stopped")
def test_auto_calibrates_on_held_out_labels_and_leaves_the_run_alone():
    """auto: T from a network trained on 70% of the labelled points (not the round's network, whose outputs and
    the run's generator stay as they were), the same T for the same strategy seed; σ the labelled points'
    radius; and the picks those of the plain function at that T and σ."""
    learner, labeled = trained_digits()
    predictor, labelled = learner.predictor, np.flatnonzero(labeled)
    before, run_state = predictor.probs(np.arange(100)), learner.state_dict()["gen"]
    temperatures = [UncertaintyHerding(predictor, labeled, torch.Generator().manual_seed(s)).temperature(labelled)
                    for s in (3, 3, 4)]
    assert torch.equal(predictor.probs(np.arange(100)), before) and torch.equal(learner.state_dict()["gen"], run_state)
    assert temperatures[0] == temperatures[1] and all(t in TEMPERATURES.tolist() for t in temperatures)
    assert max(temperatures) > 1  # a network trained to 99% on 42 points is overconfident on the other 18
    strategy = UncertaintyHerding(predictor, labeled, torch.Generator().manual_seed(3))
    unlabelled = np.flatnonzero(~labeled)
    probs, emb = predictor.probs_embeddings(unlabelled, temperatures[0])
    sigma = kernel_radius(predictor.embeddings(labelled))
    assert sigma < FALLBACK_SIGMA
    want = uherding_select(probs, emb, predictor.embeddings(labelled), 10, torch.Generator(), sigma)
    assert strategy.query(10).index.tolist() == unlabelled[want.index].tolist()
    with pytest.raises(ValueError, match="not trained on"):
        predictor.held_out_logits(labelled, unlabelled[:3], torch.Generator())


def dense_gains(x, weights, covered, sigma):
    """Σ_i w_i max(0, k_ij − m_i) for every column j, from the whole float64 kernel matrix (cdist)."""
    kernel = torch.exp(-torch.cdist(x, x).square() / (2 * sigma ** 2))
    return weights @ (kernel - covered[:, None]).clamp_min(0)


def bound_case(n, d, sigma, seed, near):
    """Unit rows in `near` tight clumps (spread 10⁻³, so float32 Gram rounding is a visible part of a narrow
    kernel's exponent) with two zero rows, margin weights down to 0 and covers from 20 labelled rows."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(near, d, generator=g, dtype=torch.float64)
    emb = centres.repeat(n // near, 1) + 1e-3 * torch.randn(n // near * near, d, generator=g, dtype=torch.float64)
    emb[:2] = 0
    x = normalised(emb)
    probs = torch.softmax(torch.randn(len(x), 4, generator=g, dtype=torch.float64) * 4, 1)
    probs[3] = torch.tensor([1.0, 0, 0, 0])
    labelled = normalised(emb[5:25] + 1e-3 * torch.randn(20, d, generator=g, dtype=torch.float64))
    return x, margin_power_score(probs), labelled_coverage(x, labelled, sigma)


@pytest.mark.parametrize("n,d,sigma,seed,near", [(600, 16, 0.01, 0, 30), (600, 128, 0.02, 1, 60),
                                                 (900, 64, 0.11, 2, 900), (500, 8, 0.7, 3, 5)])
def test_the_float32_gain_bounds_hold_and_are_tight(n, d, sigma, seed, near):
    """Every bound at least the float64 gain (the lazy greedy's picks rest on it), and above it by at most 5 % of the
    largest gain, so that the greedy rechecks few columns."""
    x, weights, covered = bound_case(n, d, sigma, seed, near)
    exact = dense_gains(x, weights, covered, sigma)
    bound = initial_gain_bounds(x, weights, covered, sigma)
    assert (bound >= exact).all()
    assert (bound - exact).max() <= 0.05 * exact.max()


def test_the_bounds_prune_the_first_pick_and_keep_the_plain_greedys_picks():
    """On the clumps with the adaptive radius's narrow kernel, the greedy from the float32 bounds computes the float64
    gains of a small part of the columns for its first pick and makes the picks (and gains) of the greedy that
    computes every column first."""
    x, weights, covered = bound_case(2000, 32, 0.01, 4, 200)
    evaluated = []

    def columns(cols):
        evaluated.append(len(cols))
        return torch.exp(-torch.cdist(x, x[cols]).square() / (2 * 0.01 ** 2))

    upper, noise = initial_gain_bounds(x, weights, covered, 0.01), kernel_noise(x.shape[1], 0.01)
    first = weighted_facility_location_greedy(columns, weights, covered, upper, 1, noise, RECHECK_BLOCK)
    assert sum(evaluated) - 1 <= len(x) / 20
    pruned = weighted_facility_location_greedy(columns, weights, covered, initial_gain_bounds(x, weights, covered,
                                                                                              0.01), 40, noise)
    plain = weighted_facility_location_greedy(columns, weights, covered, torch.full((len(x),), torch.inf,
                                                                                    dtype=torch.float64), 40, noise)
    assert first[0] == pruned[0][:1] and pruned[0] == plain[0]
    np.testing.assert_allclose(pruned[1], plain[1], rtol=1e-12)


def test_the_network_trained_aside_names_itself_in_its_warnings():
    """A guard that stops the calibration network's training says it is that network's, not the round's."""
    learner, labeled = trained_digits()
    labelled = np.flatnonzero(labeled)
    with pytest.warns(UserWarning) as caught:
        learner.predictor.held_out_logits(labelled[:42], labelled[42:], torch.Generator().manual_seed(0))
    messages = [str(w.message) for w in caught]
    assert messages and all(m.startswith("the network trained aside on 42 labelled points: training stopped")
                            for m in messages), messages


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_copies_of_rows_are_taken_by_lowest_index_and_add_exactly_nothing_once_covered(dtype):
    """Rows 4.. copy rows 0-3: once those four are picked every gain is exactly 0 and the next picks are the lowest
    indices (it picked 8 with a gain of 5.6e-16: a column's rounding depends on its place in the product's blocks),
    and among uncovered copies of one row the lowest index wins."""
    base = torch.tensor(np.random.default_rng(1).normal(size=(4, 3)))
    emb = base.repeat(5, 1).to(dtype)
    probs = torch.full((20, 2), 0.5, dtype=torch.float64)
    chosen = uherding_select(probs, emb, emb[:0], 6, torch.Generator().manual_seed(0), 1.0)
    assert sorted(chosen.index[:4].tolist()) == [0, 1, 2, 3] and chosen.index[4:].tolist() == [4, 5]
    assert (chosen.score[4:] == 0).all()
    clumps = torch.tensor(np.random.default_rng(2).normal(size=(40, 8))).repeat(30, 1)[torch.randperm(
        1200, generator=torch.Generator().manual_seed(3))].to(dtype)
    chosen = uherding_select(torch.full((1200, 2), 0.5, dtype=torch.float64), clumps, clumps[:0], 10,
                             torch.Generator(), 0.5)
    for i in chosen.index:  # each pick is the first of its copies
        assert not (clumps[:i] == clumps[i]).all(1).any(), i
