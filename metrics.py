"""What rounds.csv records of each trained model beyond plain accuracy (PROTOCOL §7): balanced accuracy on the test
set, and how many labels the pool's rarest class has."""
import numpy as np


def accuracy(predicted, truth):
    """correct / n, as a Python float of that exact ratio (as the original prints it)."""
    return int((np.asarray(predicted) == np.asarray(truth)).sum()) / len(truth)


def balanced_accuracy(predicted, truth):
    """Mean per-class recall over the classes C present in `truth`:
    (1/|C|)·Σ_c #{i: y_i = c, ŷ_i = c} / #{i: y_i = c}."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    classes = np.unique(truth)
    return float(np.mean([(predicted[truth == c] == c).mean() for c in classes]))


def rarest_class(pool_labels, n_classes):
    """The class with the fewest pool points (the lowest such class on a tie)."""
    return int(np.argmin(np.bincount(np.asarray(pool_labels), minlength=n_classes)))


def labels_of_class(pool_labels, labeled, c):
    """How many labelled pool points (boolean mask `labeled`) belong to class c."""
    return int((np.asarray(pool_labels)[labeled] == c).sum())
