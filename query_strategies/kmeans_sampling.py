"""`kmeans`: k-means with k = nQuery clusters on the unlabelled embeddings; in each cluster the point nearest its
centre. k-means++ seeding (first centre uniform, from the generator), then Lloyd iterations until no point changes
cluster, the centres move less than TOL · mean feature variance (squared, in total; the scikit-learn rule), or
MAX_ITER rounds. A cluster left empty is moved onto the point farthest from its own centre."""
import torch

from .badge_sampling import FactoredPoints, check_budget, float64_blocks, kmeanspp, one_thread
from .strategy import Strategy

MAX_ITER = 300
TOL = 1e-4
TILE = 4096  # points per block of the point–centre distance matrix


def nearest_centres(x, centres):
    """The nearest centre of every row of x (lowest index among ties): argmin_j ‖c_j‖² − 2x·c_j, in x's dtype."""
    c = centres.to(x.dtype)
    c_sq = c.square().sum(1)
    return torch.cat([torch.addmm(c_sq, block, c.T, alpha=-2).argmin(1) for block in x.split(TILE)])


def cluster_means(x, labels, k):
    """Per-cluster mean of the rows of x (float64 sums) and the cluster sizes."""
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    for block, lab in zip(float64_blocks(x, TILE), labels.split(TILE)):
        sums.index_add_(0, lab, block)
    counts = torch.bincount(labels, minlength=k)
    return sums / counts.clamp_min(1)[:, None], counts


def own_sq_dists(x, centres, labels):
    """‖x_i − centres[label_i]‖², evaluated directly in float64, in blocks."""
    return torch.cat([block.sub_(centres.index_select(0, lab)).square_().sum(1)
                      for block, lab in zip(float64_blocks(x, TILE), labels.split(TILE))])


def kmeans(x, k, generator):
    """Lloyd's algorithm from a k-means++ seeding: (centres (k×d, float64), label of every row)."""
    first = int(torch.randint(len(x), (1,), generator=generator))
    seeds = kmeanspp(FactoredPoints(x.new_ones(len(x), 1), x), k, generator, first)
    centres = x[seeds].double()
    tol = TOL * float(x.var(0).mean()) if len(x) > 1 else 0.0
    labels = nearest_centres(x, centres)
    for _ in range(MAX_ITER):
        means, counts = cluster_means(x, labels, k)
        empty = (counts == 0).nonzero().squeeze(1)
        if len(empty):
            far = own_sq_dists(x, means, labels).topk(len(empty)).indices
            means[empty] = x[far].double()
        shift = float((means - centres).square().sum())
        centres = means
        new_labels = nearest_centres(x, centres)
        stable = bool((new_labels == labels).all())
        labels = new_labels
        if stable or shift <= tol:
            break
    return centres, labels


def nearest_to_centres(x, centres, labels):
    """In each cluster the member nearest its centre (lowest index among ties); an empty cluster takes the nearest
    point not yet taken. Distances ‖x_i − centre‖² are evaluated directly in float64. Returns k distinct rows."""
    k = len(centres)
    d2 = own_sq_dists(x, centres, labels)
    order = torch.argsort(d2, stable=True)
    order = order[torch.argsort(labels[order], stable=True)]
    heads = torch.ones(len(order), dtype=torch.bool, device=x.device)
    heads[1:] = labels[order[1:]] != labels[order[:-1]]
    picks = torch.full((k,), -1, dtype=torch.long, device=x.device)
    picks[labels[order[heads]]] = order[heads]
    taken = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    taken[picks[picks >= 0]] = True
    for j in (picks < 0).nonzero().squeeze(1).tolist():
        dist = torch.cat([block.sub_(centres[j]).square_().sum(1) for block in float64_blocks(x, TILE)])
        picks[j] = int(torch.where(taken, torch.inf, dist).argmin())
        taken[picks[j]] = True
    return picks


@one_thread()
def kmeans_select(emb, k, generator):
    """k rows: k-means with k clusters, then in each cluster the point nearest its centre."""
    check_budget(k, len(emb))
    centres, labels = kmeans(emb, k, generator)
    return nearest_to_centres(emb, centres, labels)


class KMeansSampling(Strategy):
    """`kmeans`: one representative (nearest the centre) per k-means cluster of the unlabelled embeddings."""

    name = "kmeans"

    def query(self, n):
        idx = self.unlabeled()
        return idx[kmeans_select(self.learner.embeddings(idx), n, self.gen).cpu().numpy()]
