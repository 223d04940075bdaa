"""Shared building blocks for the experiment configs in ``configs/``.

A config file is ``get_config() -> ml_collections.ConfigDict``; these helpers
give every config the same keys (docs/design.md §8), so each file states only
what its experiment changes. Configs are locked: assigning a key that does not
exist (a misspelling) fails when the file is loaded. A method's settings and
their defaults come from its schema beside its sampler (``lgl_spl.samplers``).
"""

from __future__ import annotations

import difflib

import ml_collections

from lgl_spl import settings
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import get_method
from lgl_spl.samplers.functional import method_settings
from lgl_spl.util import ceil_div


def base_config() -> ml_collections.ConfigDict:
    """Every key at its default (``lgl_spl.settings``), the method ``random``; locked."""
    c = ml_collections.ConfigDict(settings.defaults(settings.TOP))
    c.method = ml_collections.ConfigDict({"name": "random"})
    for name, fields in settings.BLOCKS.items():
        c[name] = ml_collections.ConfigDict(settings.defaults(fields))
    c.lock()
    return c


def paper_student_sgd(c, *, epochs: int, milestones=(60, 120, 160)) -> None:
    """SPL-ADVisE's student schedule: SGD 0.1, momentum 0.9, wd 5e-4, ×0.1 at milestones.

    The milestones are given in epochs and kept as fractions of the run, so a shorter
    run (``--config.train.num_epochs=5``) keeps the schedule's shape.
    """
    c.train.num_epochs = float(epochs)
    c.train.optimizer = "sgd"
    c.train.learning_rate = 0.1
    c.train.momentum = 0.9
    c.train.weight_decay = 5e-4
    c.train.lr_schedule = "piecewise"
    c.train.lr_milestones = tuple(m / epochs for m in milestones)
    c.train.lr_decay_factor = 0.1
    c.train.eval_every_epochs = 1.0


def lgl_schedule(c, *, epochs: int) -> None:
    """LGL's schedule: SGD 0.05 · 0.95^epoch, momentum 0.9, wd 5e-4, batch 128."""
    c.train.batch_size = 128
    c.train.num_epochs = float(epochs)
    c.train.optimizer = "sgd"
    c.train.learning_rate = 0.05
    c.train.momentum = 0.9
    c.train.weight_decay = 5e-4
    c.train.lr_schedule = "exponential"
    c.train.lr_decay_epochs = 1.0
    c.train.lr_decay_rate = 0.95
    c.train.eval_every_epochs = 1.0


def advise_student(dataset: str):
    """SPL-ADVisE §4: the student, optimiser and schedule for each dataset.

    Where the paper is silent (epochs for Fashion-MNIST, SVHN's learning rate
    and decay), the student's own standard recipe is used and marked below.
    """
    c = base_config()
    c.data.name = dataset
    c.train.batch_size = 128
    if dataset == "cifar10":
        c.model.name = "resnet18"
        # ×0.1 at epochs 60, 120, 160 ("23,400, 46,800 and 62,400 mini-batch updates":
        # the paper's 390 updates an epoch; a full last batch makes ours 391).
        paper_student_sgd(c, epochs=200)
    elif dataset == "cifar100":
        c.model.name = "wrn28_10"
        c.data.augment = "none"  # "no data augmentation scheme was applied"
        # "The optimizer and learning rate scheduler ... identical to the CIFAR-10 experiments."
        paper_student_sgd(c, epochs=200)
    elif dataset == "fashion_mnist":
        c.model.name = "resnet18"
        c.train.num_epochs = 100.0  # not stated in the paper
        c.train.eval_every_epochs = 1.0
        c.train.learning_rate = 0.001
        c.train.momentum = 0.9
        c.train.nesterov = True
        c.train.weight_decay = 5e-4
    elif dataset == "svhn_cropped":
        c.model.name = "wrn16_8"
        c.data.svhn_extra = True
        c.data.augment = "none"
        c.train.num_epochs = 65.0
        c.train.eval_every_epochs = 1.0
        c.train.nesterov = True
        # Not stated: the WRN paper's SVHN recipe (0.01, ×0.1 at 50 % and 75 %).
        c.train.learning_rate = 0.01
        c.train.lr_schedule = "piecewise"
        c.train.lr_milestones = (0.5, 0.75)
    else:
        raise ValueError(f"no SPL-ADVisE student for {dataset!r}")
    return c


def imagenet_student(model: str = "resnet50"):
    """LGL §5.4: the PyTorch ImageNet recipe (batch 256, lr 0.1, ×0.1 every 30 of 90 epochs)."""
    c = base_config()
    c.data.name = "imagenet2012"
    c.data.image_size = 224
    c.model.name = model
    c.train.batch_size = 256
    c.train.num_epochs = 90.0
    c.train.eval_every_epochs = 1.0
    c.train.learning_rate = 0.1
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-4
    c.train.lr_schedule = "piecewise"
    c.train.lr_milestones = (1 / 3, 2 / 3)
    return c


def set_method(c, name: str, **overrides):
    """Fill ``c.method`` with ``name``'s settings at their defaults, then ``overrides``
    (``samplers.functional.method_settings`` makes the block, for configs and own loops
    alike). An override that is not a setting of the method fails here, naming it.
    """
    m = method_settings(name, **overrides)
    m.unlock()
    with c.unlocked():
        c.method = m
    if c.is_locked:
        c.method.lock()
    return c


def override_method(c, overrides: list[tuple[str, str]]):
    """Apply ``--config.method.KEY=VALUE`` overrides (``(KEY, VALUE)`` text pairs) to ``c``.

    ``method.name=X`` switches the config to method ``X`` with its defaults (its settings
    can follow: ``method.num_clusters=3``); every other block of the config is kept as the
    config set it (an optimiser chosen for another method included). Without a new name the
    settings change the config's own method block. A setting the method lacks is one
    ConfigError line listing the method's settings.
    """
    names = [value.strip() for key, value in overrides if key == "name"]
    if names and names[-1] != c.method.name:
        set_method(c, names[-1])
    method = get_method(c.method.name)
    with c.unlocked():
        for key, value in overrides:
            if key == "name":
                continue
            if key not in method.fields:
                close = difflib.get_close_matches(key, list(method.fields), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                known = ", ".join(sorted(method.fields)) or "none"
                raise ConfigError(
                    f"--config.method.{key}: method {method.name!r} has no setting {key!r}; "
                    f"{hint}its settings: {known}"
                )
            c.method[key] = settings.parse(f"method.{key}", method.fields[key], value)
    return c


def digits_student():
    """Offline: scikit-learn's 8×8 digits, a small LeNet (seconds a run on a CPU)."""
    c = base_config()
    c.data.name = "digits"
    c.model.name = "lenet"
    c.train.batch_size = 64
    c.train.num_steps = 1500
    c.train.eval_every = 250
    c.train.log_every = 250
    c.train.learning_rate = 0.05
    c.train.lr_schedule = "cosine"
    c.train.lr_decay_steps = 1500
    return c


def online_optimiser(c):
    """Adam at 1e-3 without weight decay: the optimiser of the RHO-LOSS paper's experiments
    (AdamW 1e-3), where the digits student's SGD at 0.05 makes hard-example selection
    collapse (configs/digits_online_hard.py)."""
    c.train.optimizer = "adam"
    c.train.learning_rate = 1e-3
    c.train.weight_decay = 0.0
    return c


# SPL-ADVisE §4: the embedding net for each dataset (LeNet for Fashion-MNIST, else VGG-16).
_ADVISE_EMBED = {"fashion_mnist": "lenet_embed"}


def advise_row(dataset: str, method: str):
    """One row of SPL-ADVisE's Table 1: the paper's student with ``method``."""
    c = advise_student(dataset)
    if method != "advise":
        return set_method(c, method)
    return set_method(
        c,
        "advise",
        embed_model=_ADVISE_EMBED.get(dataset, "vgg16_embed"),
        embed_dim=64,  # the reference code's 2-d embedding is one of its bugs
        embed_lr=1e-4,
        embed_steps=-1,  # trained alongside the student for the whole run
        student_steps_per_embed_step=1,
        refresh_every=1000,
    )


def lgl_student(dataset: str):
    """LGL §5.2: VGG-16 for CIFAR-10/100, SGD 0.05·0.95^epoch, 100 epochs, crop + flip."""
    c = base_config()
    c.data.name = dataset
    c.data.augment = "crop_flip"
    c.model.name = "vgg16"
    lgl_schedule(c, epochs=100)
    return c


def lgl_row(dataset: str, method: str, *, stages: int = 3, order: str = "random", student=None):
    """One row of LGL's Tables 1, 3 and 4 (the baseline is ``random``).

    LGL gets the paper's budget: every stage trains the baseline's full schedule over
    the classes it holds (``resolve`` derives the steps when the data are loaded).
    """
    c = student if student is not None else lgl_student(dataset)
    if method != "lgl":
        return set_method(c, method)
    return set_method(c, "lgl", num_stages=stages, order=order, budget="paper")


def toy_student():
    """LGL §5.1: 2-D Gaussians, FC-1, basic SGD with a fixed learning rate of 0.01."""
    c = base_config()
    c.data.name = "toy"
    c.data.toy_layout = "separable"
    c.model.name = "mlp1"
    c.train.batch_size = 30
    c.train.num_steps = 2000
    c.train.eval_every = 100
    c.train.eval_train_loss = True  # LGL Fig. 2 plots the training loss
    c.train.log_every = 500
    c.train.optimizer = "sgd"
    c.train.learning_rate = 0.01
    c.train.momentum = 0.0
    c.train.weight_decay = 0.0
    return c


# ---- small CPU reproductions (docs/results/) -----------------------------------------------

_LGL_ORDERS = {"r": "random", "d": "dissimilar", "s": "similar"}


def cpu_student(dataset: str, *, train_limit: int = 4000, rounds: int = 8):
    """A LeNet small enough for a 2-core CPU: ``rounds`` epochs of ``train_limit`` examples.

    The data come from local arrays (``data.npz_path``, set on the command line); a
    tenth of the subset is held out for model selection.
    """
    c = base_config()
    c.data.name = dataset
    c.data.train_limit = train_limit
    c.data.val_fraction = 0.1
    # A 10,000-image test pass costs a third of a round here: evaluate every 2 epochs.
    _cpu_lenet(c, batch=64, epochs=rounds, eval_epochs=2)
    return c


def _cpu_lenet(c, *, batch: int, epochs: float, eval_epochs: int) -> None:
    """What the CPU students share: a LeNet, SGD 0.05 with momentum 0.9 and weight decay
    5e-4, a cosine schedule over the run (its length in steps of ``batch``)."""
    c.model.name = "lenet"
    c.train.batch_size = batch
    per = ceil_div(_num_train(c), batch)
    c.train.num_steps = round(epochs * per)
    c.train.eval_every = eval_epochs * per
    c.train.log_every = per
    c.train.eval_batch_size = 2000
    c.train.learning_rate = 0.05
    c.train.momentum = 0.9
    c.train.weight_decay = 5e-4
    c.train.lr_schedule = "cosine"
    c.train.lr_decay_steps = c.train.num_steps


def cpu_row(dataset: str, method: str, **student):
    """One method of a CPU reproduction; every method gets the same student updates."""
    return cpu_method(cpu_student(dataset, **student), method)


def cpu_method(c, method: str):
    """Set ``method`` on a CPU student ``c`` (its run length already set).

    ``lgl_<order><stages>`` (e.g. ``lgl_d3``) uses the ``fair`` budget: the
    baseline's updates split over the stages. ``advise`` trains a half-width LeNet
    embedding net, one embedding step every two student steps, refreshing its
    clusters once a round. ``<method>_cap<p>`` caps the pace at p % of the data
    (``method.max_fraction``), e.g. ``spl_cap60``. ``rho_loss_clean`` trains the
    irreducible-loss model on a 10 % holdout with its true labels (``method.clean_holdout``),
    ``rho_loss_holdout`` on that holdout with the data's labels, ``rho_loss_halves`` on each
    half of the training data (``method.il_data``: the default, named for older commands).
    ``prune_<score>_<percent>[_epochs][_stratified]`` (e.g. ``prune_el2n_70``) keeps that
    percent of the data by ``method.score`` (el2n, grand, forgetting, random), the hardest
    (or coverage-centric with ``_stratified``), for the same updates as ``random`` (or the
    same epochs with ``_epochs``). ``infobatch_r<percent>`` drops that percent of the
    below-mean-loss examples each pass (``method.prune_ratio``). ``<online method>_proxy``
    (e.g. ``online_hard_proxy``) scores the candidates with the default proxy
    (``method.scorer``).
    """
    per_round = ceil_div(_num_train(c), c.train.batch_size)
    if method in _RHO_VARIANTS:
        return set_method(c, "rho_loss", **_RHO_VARIANTS[method])
    if method.startswith("prune_"):
        return set_method(c, "prune", **_prune_settings(method))
    if method.endswith("_proxy"):  # an online method scored by its default proxy
        return set_method(c, method[: -len("_proxy")], scorer="proxy")
    if method.startswith("infobatch_r") and method[11:].isdigit():
        return set_method(c, "infobatch", prune_ratio=int(method[11:]) / 100)
    method, _, cap = method.partition("_cap")
    extra = {"max_fraction": int(cap) / 100} if cap else {}
    if method.startswith("lgl_"):
        order, stages = _LGL_ORDERS[method[4]], int(method[5:])
        return set_method(c, "lgl", num_stages=stages, order=order, budget="fair")
    if method != "advise":
        return set_method(c, method, **extra)
    return set_method(
        c,
        "advise",
        embed_model="lenet_embed",
        embed_width=0.5,
        embed_lr=1e-3,
        embed_steps=-1,  # the whole run: num_steps // 2
        student_steps_per_embed_step=2,  # one embedding step every 2 student steps
        refresh_every=max(per_round // 2, 1),  # a fresh cluster index every round
        snapshot_examples=1000,
        **extra,
    )


_RHO_VARIANTS = {
    "rho_loss_clean": {"il_data": "holdout", "clean_holdout": True},
    "rho_loss_holdout": {"il_data": "holdout"},
    "rho_loss_halves": {"il_data": "halves"},
}


def _prune_settings(name: str) -> dict:
    """``prune_<score>_<percent>[_epochs][_stratified]`` -> the method's settings."""
    usage = (
        f"{name!r}: expected prune_<score>_<percent>[_epochs][_stratified], "
        "e.g. prune_el2n_70 or prune_forgetting_30_epochs"
    )
    parts = name.split("_")[1:]
    if len(parts) < 2 or not parts[1].isdigit() or not 0 < int(parts[1]) <= 100:
        raise ConfigError(usage)
    settings = {"score": parts[0], "keep_fraction": int(parts[1]) / 100}
    for flag in parts[2:]:
        if flag == "epochs":
            settings["budget"] = "epochs"
        elif flag == "stratified":
            settings["keep"] = "stratified"
        else:
            raise ConfigError(usage)
    return settings


def _num_train(c) -> int:
    """Training examples after the validation split (the CPU students set train_limit)."""
    return round(c.data.train_limit * (1 - c.data.val_fraction))


# ---- positive controls: label noise and small budgets (docs/results/controls/) ------------

# Per dataset: (train_limit, batch size, epochs). Sized so that `random` visibly memorises
# 40 % label noise (its test accuracy peaks, then falls) within a few minutes on 2 cores.
CONTROL_STUDENTS = {"fashion_mnist": (2000, 64, 20), "cifar10": (3000, 128, 24)}
NOISE_SETTINGS = {"sym0": (0.0, "symmetric"), "sym20": (0.2, "symmetric"),
                  "sym40": (0.4, "symmetric"), "pair40": (0.4, "pair")}  # fmt: skip


def control_student(dataset: str, *, noise: str = "sym0", budget: int = 1):
    """The positive controls' student: long enough for ``random`` to memorise label noise.

    A LeNet on ``CONTROL_STUDENTS[dataset]``'s examples (a tenth held out for
    validation), no augmentation (it would slow memorisation), its batch size and
    epochs, the epochs divided by ``budget`` (1, 2, 4 or 8: the small-budget regime),
    cosine learning rate over the run, an evaluation every two epochs on a fixed
    2,000-image test subset.
    """
    train_limit, batch, epochs = CONTROL_STUDENTS[dataset]
    c = base_config()
    c.data.name = dataset
    c.data.train_limit = train_limit
    c.data.val_fraction = 0.1
    c.data.test_limit = 2000
    c.data.augment = "none"
    c.data.label_noise, c.data.label_noise_type = NOISE_SETTINGS[noise]
    _cpu_lenet(c, batch=batch, epochs=epochs / budget, eval_epochs=2)
    return c


def control_row(arg: str):
    """``DATASET,METHOD[,NOISE[,BUDGET]]``, e.g. ``fashion_mnist,spl_cap60,sym40`` or
    ``cifar10,lgl_r3,sym0,4`` (a quarter of the updates)."""
    parts = arg.split(",")
    usage = f"{arg!r}: expected DATASET,METHOD[,NOISE[,BUDGET]], e.g. fashion_mnist,spl,sym40"
    if not 2 <= len(parts) <= 4:
        raise ConfigError(usage)
    dataset, method = parts[0], parts[1]
    noise = parts[2] if len(parts) > 2 else "sym0"
    budget = parts[3] if len(parts) > 3 else "1"
    for what, value, known in (
        ("DATASET", dataset, CONTROL_STUDENTS),
        ("NOISE", noise, NOISE_SETTINGS),
        ("BUDGET", budget, ("1", "2", "4", "8")),
    ):
        if value not in known:
            raise ConfigError(f"{usage}; {what} must be one of {', '.join(known)}, not {value!r}")
    return cpu_method(control_student(dataset, noise=noise, budget=int(budget)), method)
