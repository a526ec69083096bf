"""--resume: which run a run folder holds, whether the flags and data of a resume are that run's, whether it has
anything left to do, and the state a checkpoint saves and restores (run.py's open_run_dir uses them; the sweep
uses is_finished to plan). Imports nothing heavy, so that run.py can import it before parsing its flags."""
from errors import STATE_MISFITS, UserError
from strategy_params import every_result_flag, result_flags

# The flags (and data name) that must match when a run is resumed, beyond its strategy's result-changing
# parameters (strategy_params.result_flags); nEnd and rounds may grow: the run then goes on further.
RUN_KEYS = ("alg", "data_name", "model", "nQuery", "nStart", "nEmb", "lr", "trunc", "aug", "seed", "maxEpochs",
            "patience")
# Flags added since checkpoints recorded RUN_KEYS, with the value that means "not used": a resume must match them
# too, and they are part of a run's identity hash only when used (an older version's checkpoint keeps its identity).
LATER_KEYS = {"imbalance": None, "select_on": "model"}
# What identifies the data on resume: its sizes and content hash (not the path it was read from).
DATA_KEYS = ("n_train", "n_test", "n_classes", "shape", "sha256")


def resume_keys(alg):
    """The config.json keys a resume of a run of strategy `alg` must match: RUN_KEYS and the flags of its
    parameters that change results, and LATER_KEYS."""
    return RUN_KEYS + tuple(LATER_KEYS) + tuple(result_flags(alg))


def run_identity(config):
    """SHA-256 of a run's config.json (`config`) over RUN_KEYS, the result-changing strategy flags it records (of
    every strategy, as a run records all its flags), the LATER_KEYS it uses and its data's identity: what its
    checkpoint must match."""
    from results import identity_hash

    used = tuple(k for k, unused in LATER_KEYS.items() if config.get(k, unused) != unused)
    keys = RUN_KEYS + tuple(f for f in every_result_flag() if f in config) + used + ("data",)
    return identity_hash(dict(config, data=[config["data_identity"][k] for k in DATA_KEYS]), keys)


def run_owner(config):
    """What a run's checkpoint and training snapshot must belong to: the run id in its config.json (`config`) and
    its identity hash (run_identity)."""
    return {"run_id": config.get("run_id"), "identity": run_identity(config)}


def changed_flags(old, config):
    """(the recorded, this command's) of the flags (resume_keys) in which config.json (`old`) and this command's
    `config` differ, as flag_text spells them."""
    keys = [k for k in resume_keys(config["alg"]) if old.get(k, LATER_KEYS.get(k)) != config[k]]
    was = {k: old.get(k, LATER_KEYS.get(k)) for k in keys}
    return (" ".join(flag_text(k, was[k], str(was[k]) == str(config[k])) for k in keys),
            " ".join(flag_text(k, config[k], str(was[k]) == str(config[k])) for k in keys))


def check_same_run(run_dir, old, config):
    """The resumed run's flags (resume_keys), data and class names are those in config.json (`old`); UserError
    naming those that are not."""
    was, now = changed_flags(old, config)
    if was:
        raise UserError(f"{run_dir.path} was started with {was}, and this command has {now}; resume with the same "
                        f"flags or use another --out")
    was, now = old.get("data_identity"), config["data_identity"]
    if not isinstance(was, dict):
        raise UserError(f"{run_dir.config} records no data identity (an older version wrote it); start the run "
                        f"again with --force")
    if [was.get(k) for k in DATA_KEYS] != [now[k] for k in DATA_KEYS]:
        raise UserError(f"{run_dir.path} was started on other data ({describe_data(was)}) than now "
                        f"({describe_data(now)}); resume with the same data, or use --force or another --out")
    was, now = old.get("class_names"), config.get("class_names")
    if None not in (was, now) and was != now:  # the same features and label codes, the labels renamed
        i = next((i for i, (a, b) in enumerate(zip(was, now)) if a != b), min(len(was), len(now)))
        raise UserError(f"{run_dir.path} was started on data whose classes have other names (class {i}: "
                        f"{class_name(was, i)} then, {class_name(now, i)} now); resume with the same data, or use "
                        f"--force or another --out")


def class_name(names, i):
    """Class i's name in a list of class names, quoted; `none` past its end."""
    return repr(names[i]) if i < len(names) else "none"


def flag_text(key, value, typed=False):
    """A recorded run.py flag as the command line spells it: `--select-on input`, `no --imbalance` for one not given
    (None); `typed`: with its JSON type, for two values that print alike (`--nQuery 50 (str)`, a hand edit)."""
    flag = "--" + key.replace("_", "-")
    return f"no {flag}" if value is None else f"{flag} {value}" + (f" ({type(value).__name__})" if typed else "")


def describe_data(identity):
    """`source: n_train+n_test points of shape, sha256 prefix` for messages."""
    return (f"{identity.get('source', '?')}: {identity.get('n_train', '?')}+{identity.get('n_test', '?')} points "
            f"of shape {identity.get('shape', '?')}, sha256 {str(identity.get('sha256', '?'))[:12]}")


def is_finished(summary, n_rounds):
    """Whether a run whose summary.json holds `summary` (None: the run has not ended) has nothing left to do when
    it is to run n_rounds query rounds (run.n_query_rounds): its pool ran out, or it ran them."""
    return bool(summary) and (summary["stopped_by"] == "pool exhausted" or summary["rounds"] >= n_rounds)


def started_trainer(config):
    """The trainer a run started with, as its config.json (`config`) records it; a run older than the field
    trained with PyTorch."""
    return config.get("trainer", "torch")


def checkpoint_state(rd, config, learner, strategy):
    """What a checkpoint holds after round `rd` of the run config.json (`config`) describes: the round, its owner
    (run id and identity hash), the trainer it started with, and the learner's and the strategy's state
    (restore_checkpoint reads them back)."""
    return {"round": rd, **run_owner(config), "trainer": started_trainer(config), "learner": learner.state_dict(),
            "strategy": strategy.state_dict()}


def check_trainer(state, config, path):
    """UserError when checkpoint `state` (at `path`) was written by a run that started with another trainer than
    config.json (`config`) records: a resume continues with the recorded one, so an edited `trainer` would
    switch it silently. A checkpoint of an older version records none and passes."""
    saved = state.get("trainer", started_trainer(config))
    if saved != started_trainer(config):
        raise UserError(f"{path} was written by a run that started with trainer {saved!r}, and its config.json "
                        f"says {started_trainer(config)!r}; set config.json's \"trainer\" back to {saved!r} or "
                        f"start the run again with --force")


def restore_checkpoint(state, learner, strategy, path):
    """The learner and the strategy as checkpoint_state saved them (UserError when the state does not fit); the
    saved network was trained on the strategy's labelled points."""
    try:
        strategy.load_state_dict(state["strategy"])
        learner.load_state_dict(state["learner"], strategy.labeled_idx())
    except STATE_MISFITS as e:
        raise UserError(f"{path} does not fit this run ({type(e).__name__}); start the run again with --force")
