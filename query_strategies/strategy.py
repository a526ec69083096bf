"""The Strategy base class: what every selection algorithm shares.

A strategy owns the labelled mask of the pool and its random generator. A subclass's `select(n)` asks the learner
for the model outputs it needs on the unlabelled points and hands arrays to a pure selection function, whose Picks
(rows of those arrays) it returns as pool indices (`Picks.among`); `query(n)` returns them after checking that they
are n distinct unlabelled pool indices, for every caller.

A strategy's own parameters are declared once, by its --alg name, in strategy_params.DECLARED (torch-free, so
that run.py builds their flags before importing torch):

    BETA = Param("beta", "beta", positive(float), 1.0, "draw points with probability ∝ score^beta")
    DECLARED = {..., "powerbald": (BETA,)}

gives run.py the flag --beta (type, default, help), config.json its value, `self.beta` here (from the flag, or the
default), and, as the parameter changes results, the refusal of another --beta on --resume and the sweep's and the
analysis' comparison of it. A value that follows from the run's other settings rather than a flag comes from the
class hook `data_parameters` (BAIT's λ); a cost model that warns before a slow run is the hook
`warn_if_expensive` (BAIT's); a bound that holds for one strategy only is the hook `check_parameters` (logdetmi's
η ≤ 1, refused before the run starts). The runner calls all three for every strategy."""
import numpy as np

from strategy_params import parameters

from .selection import Picks, top_k


class Strategy:
    name = None  # the --alg value; set by each subclass
    extensions = ()  # training.Extension objects trained beside the classifier (LPL's module, CEAL's pseudo-labels)
    on_embedding = False  # its definition takes an embedding (learner.embeddings), not gradients: --select-on input
    label_free = False  # it picks a first batch without labels (--nStart 0) on the data's own features
    uniform_draw = False  # its pick is a uniform draw: in a cold start it takes the one shared by those needing labels
    takes_gradients = False  # its definition takes the network's gradients, which no input feature can stand for

    def __init_subclass__(cls, **kwargs):
        """A class-level `params` is the former way of declaring parameters: refused, pointing to the new one."""
        super().__init_subclass__(**kwargs)
        if "params" in vars(cls):
            raise TypeError(f"{cls.__name__}.params: declare a strategy's parameters in strategy_params.DECLARED")

    def __init__(self, learner, labeled, generator, **params):
        """`learner`: the model outputs it may ask for (a predictor.Predictor: probs, embeddings, mc_probs ...);
        `labeled`: boolean mask over the pool; `generator`: a CPU torch.Generator for every random draw;
        `params`: values for the parameters the strategy declares (strategy_params.parameters(name)), each set as
        an attribute, its default when absent (TypeError for any other name)."""
        declared = {p.name: p.default for p in parameters(self.name)}
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no parameter {', '.join(unknown)}")
        self.learner = learner
        self.labeled = np.asarray(labeled, dtype=bool).copy()
        self.gen = generator
        for name, default in declared.items():
            setattr(self, name, params.get(name, default))

    @classmethod
    def data_parameters(cls, data_name):
        """Constructor keywords that follow from the data's name (--data) rather than from a flag: none here."""
        return {}

    @classmethod
    def check_parameters(cls, params):
        """ValueError (its message one line for the user) when the parameter values {name: value} cannot go
        together for this strategy, beyond what each flag's type accepts: none here."""

    @classmethod
    def warn_if_expensive(cls, ds, model_name, n_emb, k):
        """A warning before a run whose queries of k points on `ds` with this network would be slow: none here (a
        strategy with a cost model overrides it)."""

    @property
    def n_pool(self):
        return len(self.labeled)

    def unlabeled(self):
        """Pool indices not yet labelled, ascending."""
        return np.flatnonzero(~self.labeled)

    def labeled_idx(self):
        return np.flatnonzero(self.labeled)

    def query(self, n):
        """The Picks of n distinct unlabelled pool indices to label next, with their scores: `select(n)`, checked
        (RuntimeError otherwise)."""
        chosen = self.select(n)
        if not isinstance(chosen, Picks):
            raise TypeError(f"{self.name}: select returned {type(chosen).__name__}, not selection.Picks")
        picked = chosen.index
        in_pool = len(picked) == 0 or (picked.min() >= 0 and picked.max() < self.n_pool)
        if len(picked) != n or len(np.unique(picked)) != n or not in_pool or self.labeled[picked].any():
            raise RuntimeError(f"{self.name} returned {len(picked)} picks, not {n} distinct unlabelled points")
        return chosen

    def select(self, n):
        """The subclass's selection: Picks of n unlabelled pool indices."""
        raise NotImplementedError

    def update(self, idx):
        """Mark pool points `idx` as labelled."""
        self.labeled[idx] = True

    def trained(self):
        """Called after each retraining, before the next query (ALBL learns its reward here)."""

    def state_dict(self):
        """What `load_state_dict` needs to continue this strategy exactly (used by --resume): the labelled mask and
        the generator's state."""
        return {"labeled": self.labeled.copy(), "gen": self.gen.get_state()}

    def load_state_dict(self, state):
        self.labeled = np.asarray(state["labeled"]).astype(bool)  # a saved tensor: np.array(t, dtype) is deprecated
        self.gen.set_state(state["gen"])


class ScoreStrategy(Strategy):
    """Label the k unlabelled points with the highest `score(probs)` — uncertainty sampling.
    With `dropout = True` the probabilities are the mean of MC-dropout passes."""

    dropout = False

    @staticmethod
    def score(probs):
        raise NotImplementedError

    def select(self, n):
        idx = self.unlabeled()
        probs = self.learner.mc_probs(idx).mean(0) if self.dropout else self.learner.probs(idx)
        return top_k(self.score(probs), n).among(idx)
