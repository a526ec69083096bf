"""`flqmi`, `logdetmi`: SIMILAR's submodular mutual information with a query set (Kothawade, Beck, Killamsetty &
Iyer, NeurIPS 2021, "SIMILAR: Submodular Information Measures Based Active Learning In Realistic Scenarios"), as
DISTIL's `SMI` runs them, the query set Q being the labelled points of the `--queryClasses` (1) classes with the
fewest labelled points (among those with any; lower class first among ties): the rare-class setting.

Each point is its loss gradient with respect to the last layer's weights and bias, (onehot(y) − p) ⊗ (e, 1), y
the predicted class for an unlabelled point and the true one for a query point; the kernel is
s_ij = (1 + cos(g_i, g_j)) / 2, cos(g_i, g_j) = cos(a_i, a_j)·cos(ê_i, ê_j) (a = onehot(y) − p, ê = (e, 1)) from the
two factors, never the n × C(d + 1) rows (UnitGradients). With η = `--smiEta` (1), greedy maximisation over the
unlabelled set U of
- FLQMI: I(A; Q) = Σ_{q∈Q} max_{j∈A} s_qj + η Σ_{j∈A} max_{q∈Q} s_jq;
- LogDetMI: I(A; Q) = log det(S_A) − log det(S_A − η² S_AQ S_Q⁻¹ S_QA), S_A = K_AA + λI, S_Q = K_QQ + λI,
  λ = `--smiLambda` (1); each logdet grows by log of a Cholesky pivot per pick (incremental Cholesky on columns
  computed as needed, no |U|×|U| matrix).
Each pick: the largest gain (lowest index among ties), scored by that gain."""
from dataclasses import dataclass

import numpy as np
import torch

from strategy_params import SMI_ETA, SMI_LAMBDA

from .selection import check_budget, gradient_factor, normalised, one_thread, picks
from .strategy import Strategy

DEFAULT_ETA, DEFAULT_LAMBDA = SMI_ETA.default, SMI_LAMBDA.default


def rare_class_rows(labels, n_classes):
    """Positions of the labels in the n_classes classes with the fewest labels among those present (ties: the
    lower class)."""
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    rare = present[np.argsort(counts, kind="stable")[:n_classes]]
    return np.flatnonzero(np.isin(labels, rare))


@dataclass(frozen=True)
class UnitGradients:
    """Unit gradient rows g_i/‖g_i‖, g_i = a_i ⊗ ê_i, held as their unit factors a_i/‖a_i‖ and ê_i/‖ê_i‖ (a zero a_i
    stays 0): since (a_i ⊗ ê_i)·(a_j ⊗ ê_j) = (a_i·a_j)(ê_i·ê_j), no n × C(d + 1) matrix is needed."""
    a: torch.Tensor
    e: torch.Tensor

    def __len__(self):
        return len(self.a)

    def __getitem__(self, index):
        return UnitGradients(self.a[index], self.e[index])


def unit_gradients(probs, emb, labels):
    """The rows (onehot(y) − p) ⊗ (e, 1) scaled to unit norm, as UnitGradients (float64)."""
    e = emb.detach().cpu().double()
    a = gradient_factor(probs.detach().cpu(), labels)
    return UnitGradients(normalised(a), normalised(torch.cat([e, torch.ones(len(e), 1, dtype=torch.float64)], 1)))


def kernel(x, y):
    """s_ij = (1 + cos(g_i, g_j)) / 2 = (1 + (a_i·a_j)(ê_i·ê_j)) / 2 for UnitGradients x, y: the cosine kernel shifted
    into [0, 1]."""
    return (1 + (x.a @ y.a.T) * (x.e @ y.e.T)) / 2


@one_thread()
def flqmi_select(unl, query, k, generator, eta=DEFAULT_ETA):
    """k rows of `unl` (UnitGradients) greedily maximising FLQMI with the rows `query`; each scored by its
    gain Σ_q max(0, s_qj − m_q) + η max_q s_jq (m_q: the largest s_qj over the picks so far, 0 at first)."""
    check_budget(k, len(unl))
    s = kernel(query, unl)
    relevance = eta * s.max(0).values
    best = torch.zeros(len(query), dtype=torch.float64)
    free = torch.ones(len(unl), dtype=torch.bool)
    rows, gains = [], []
    for _ in range(k):
        gain = ((s - best[:, None]).clamp_min(0).sum(0) + relevance).masked_fill(~free, -np.inf)
        j = int(gain.argmax())
        rows.append(j)
        gains.append(float(gain[j]))
        free[j] = False
        best = torch.maximum(best, s[:, j])
    return picks(rows, gains)


class IncrementalCholesky:
    """Pivots d_j² = M_jj − ‖c_j‖² of every row j against the picked rows of a positive definite M:
    log det(M_{A+j}) − log det(M_A) = log d_j²."""

    def __init__(self, diagonal, k):
        self.d2 = diagonal.clone()
        self.c = torch.zeros(len(diagonal), k, dtype=torch.float64)
        self.count = 0

    def add(self, j, column):
        """Extend the factor by row j, given M's column j: c_i[t] = (M_ij − c_i·c_j) / d_j, d_i² −= c_i[t]²."""
        t = self.count
        new = (column - self.c[:, :t] @ self.c[j, :t]) / self.d2[j].sqrt()
        self.c[:, t] = new
        self.d2 -= new ** 2
        self.count += 1


def check_logdet_eta(eta):
    """ValueError unless 0 < η ≤ 1: S_A − η² S_AQ S_Q⁻¹ S_QA is a Schur complement of the positive definite kernel
    on A ∪ Q (η = 1) or a convex combination of one with S_A, hence positive definite, only then."""
    if not 0 < eta <= 1:
        raise ValueError(f"logdetmi needs --smiEta in (0, 1], got {eta:.12g}: above 1 the conditioned kernel "
                         f"S_A − η²·S_AQ·S_Q⁻¹·S_QA has no log-determinant; lower --smiEta")


@one_thread()
def logdetmi_select(unl, query, k, generator, eta=DEFAULT_ETA, lam=DEFAULT_LAMBDA):
    """k rows of `unl` greedily maximising LogDetMI with `query`: gain_j = log d_j²(S) − log d_j²(S − η² S_·Q S_Q⁻¹
    S_Q·) (incremental Cholesky of both); each scored by its gain. 0 < η ≤ 1 (check_logdet_eta)."""
    check_budget(k, len(unl))
    check_logdet_eta(eta)
    n = len(unl)
    factor = torch.linalg.cholesky(kernel(query, query) + lam * torch.eye(len(query), dtype=torch.float64))
    b = eta * torch.linalg.solve_triangular(factor, kernel(query, unl), upper=False).T  # η K_UQ L⁻ᵀ
    diag = (1 + unl.a.square().sum(1) * unl.e.square().sum(1)) / 2 + lam  # K_jj + λ

    def plain(j):
        col = kernel(unl, unl[j:j + 1]).reshape(n)
        col[j] += lam
        return col

    whole = IncrementalCholesky(diag, k)
    given_q = IncrementalCholesky(diag - (b ** 2).sum(1), k)
    free = torch.ones(n, dtype=torch.bool)
    rows, gains = [], []
    for _ in range(k):
        gain = (whole.d2.log() - given_q.d2.log()).masked_fill(~free, -np.inf)
        j = int(gain.argmax())
        rows.append(j)
        gains.append(float(gain[j]))
        free[j] = False
        column = plain(j)
        whole.add(j, column)
        given_q.add(j, column - b @ b[j])
    return picks(rows, gains)


class SubmodularMI(Strategy):
    """The unlabelled and query gradient rows of the current model, for a SIMILAR measure."""

    takes_gradients = True

    def gradient_rows(self):
        """(unit gradients of the unlabelled points with predicted labels, of the query points with true ones)."""
        idx, labelled = self.unlabeled(), self.labeled_idx()
        labels = self.learner.labels(labelled).cpu().numpy()
        query = labelled[rare_class_rows(labels, self.query_classes)]
        probs, emb = self.learner.probs_embeddings(idx)
        q_probs, q_emb = self.learner.probs_embeddings(query)
        unl = unit_gradients(probs, emb, probs.argmax(1))
        return idx, unl, unit_gradients(q_probs, q_emb, self.learner.labels(query))


class FLQMI(SubmodularMI):
    """`flqmi`: facility-location query mutual information with the rarest classes' labelled points."""

    name = "flqmi"

    def select(self, n):
        idx, unl, query = self.gradient_rows()
        return flqmi_select(unl, query, n, self.gen, eta=self.smi_eta).among(idx)


class LogDetMI(SubmodularMI):
    """`logdetmi`: log-determinant mutual information with the rarest classes' labelled points."""

    name = "logdetmi"

    @classmethod
    def check_parameters(cls, params):
        check_logdet_eta(params["smi_eta"])

    def select(self, n):
        idx, unl, query = self.gradient_rows()
        return logdetmi_select(unl, query, n, self.gen, eta=self.smi_eta, lam=self.smi_lambda).among(idx)
