"""The fixed parts of one run, built once from its config: data, model, steps, method."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lgl_spl import data as data_lib
from lgl_spl import models, parallel
from lgl_spl.samplers import SamplerContext, get_method, make_sampler
from lgl_spl.samplers.registry import method_code
from lgl_spl.timing import PhaseTimer
from lgl_spl.train import run_length
from lgl_spl.train.auxiliary import AuxiliaryLearner, build_auxiliaries, carve_data
from lgl_spl.train.evaluator import Evaluator
from lgl_spl.train.feeding import make_feeder
from lgl_spl.train.memory import check_in_memory_limit, check_sizes
from lgl_spl.train.resume import config_fingerprint
from lgl_spl.train.run_state import RunState, TrainedBuffer
from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import Steps, make_steps
from lgl_spl.train.validate import validate_run, validate_step_selector
from lgl_spl.util import ceil_div


@dataclasses.dataclass
class Experiment:
    config: object  # resolved against the data (train.run_length.resolve)
    fingerprint: dict  # of the config as given: what a resumed run must match
    mesh: object
    dataset: data_lib.Dataset
    model: object
    tx: object  # the optimiser without its learning rate (see train.state.make_optimizer)
    schedule: object  # learning rate of the schedule step
    spec: data_lib.AugmentSpec
    steps: Steps
    train_feed: object
    test_feed: object
    val_feed: object | None
    sampler: object
    auxiliaries: tuple[AuxiliaryLearner, ...]  # trained beside the student (the method's)
    step_selector: object | None  # samplers.StepSelector: the plan hands steps candidates
    loss_transform: object | None  # core.LossTransform: the method's, inside the train step
    proxy_model: object | None  # a selector's proxy scorer (samplers.Proxy), built
    step_signals: bool  # the steps record what they trained on, for the sampler
    evaluator: Evaluator
    timer: PhaseTimer
    init_key: jax.Array
    step_key: jax.Array  # replicated on the mesh

    @property
    def num_train(self) -> int:
        return int(self.dataset.y_train.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.dataset.num_classes)

    @property
    def batch_size(self) -> int:
        return int(self.config.train.batch_size)

    @property
    def num_steps(self) -> int:
        return int(self.config.train.num_steps)

    @property
    def steps_per_round(self) -> int:
        return ceil_div(self.num_train, self.batch_size)

    @property
    def plan_width(self) -> int:
        """Examples a step is handed: the batch, or a step-level selector's candidates."""
        if self.step_selector is None:
            return self.batch_size
        return int(self.step_selector.candidates)

    def step_inputs(self, rs: RunState) -> dict | None:
        """The per-example arrays a step-level selector's step is handed, on the devices
        (None without a selector): the auxiliary learners' (RHO-LOSS's irreducible losses)
        and, with label noise on in-memory data, the ``noisy`` mask for the round records."""
        if self.step_selector is None:
            return None
        arrays = {}
        for aux in self.auxiliaries:
            arrays.update(aux.step_inputs(rs.aux[aux.name]))
        if self.dataset.noisy is not None and not self.train_feed.host_batches:
            arrays["noisy"] = self.dataset.noisy.astype(np.float32)
        return {k: parallel.put_replicated(v, self.mesh) for k, v in arrays.items()}

    def auxiliary(self, name: str) -> AuxiliaryLearner | None:
        """The auxiliary learner called ``name`` (None when the method has none)."""
        return next((a for a in self.auxiliaries if a.name == name), None)

    @property
    def num_rounds(self) -> int:
        return ceil_div(self.num_steps, self.steps_per_round)

    def run_info(self) -> dict:
        """Facts about the run that the config alone does not give (for reports)."""
        ds = self.dataset
        return {
            "dataset": self.config.data.name,
            "method": get_method(self.config.method.name).name,  # its own, for a path
            "label_names": list(ds.label_names),
            "num_classes": self.num_classes,
            "num_train": self.num_train,
            "num_test": int(ds.y_test.shape[0]),
            "num_val": int(ds.y_val.shape[0]),
            "steps_per_round": self.steps_per_round,
            "batch_size": self.batch_size,
            "num_devices": int(self.mesh.size),
            "num_processes": int(jax.process_count()),
            **self._proxy_sizes(),
        }

    def sample(self) -> jax.Array:
        """One training image as the model sees it (the shape networks are initialised by)."""
        ds = self.dataset
        first = ds.train_source.gather([0]) if ds.train_source is not None else ds.x_train[:1]
        return data_lib.augment(jax.random.key(0), jnp.asarray(first), self.spec, train=False)

    def _proxy_sizes(self) -> dict:
        """With a proxy scorer: its parameter count beside the student's (what a proxy pass
        costs against a student pass, roughly)."""
        if self.proxy_model is None:
            return {}
        sample = self.sample()

        def size(model) -> int:
            shapes = jax.eval_shape(lambda: models.init_variables(model, self.init_key, sample))
            return int(sum(np.prod(x.shape) for x in jax.tree.leaves(shapes[0])))

        return {"student_params": size(self.model), "proxy_params": size(self.proxy_model)}

    def initial_state(self) -> RunState:
        """The run's state before its first step (also the shape to restore into)."""
        sample = self.sample()
        loss_state = proxy = None
        if self.loss_transform is not None:
            loss_state = self.loss_transform.init(self.num_train, self.num_classes)
        if self.proxy_model is not None:  # its own stream of the run's seed
            proxy = (self.proxy_model, jax.random.fold_in(self.init_key, PROXY_STREAM))
        train = create_train_state(self.model, self.tx, self.init_key, sample, loss_state, proxy)
        trained = None
        if self.step_signals:  # a full round of kept examples: steps × batch
            trained = TrainedBuffer.empty(self.steps_per_round * self.batch_size)
        return RunState(
            train=parallel.put_replicated(train, self.mesh),
            sampler=self.sampler.init(),
            aux={a.name: a.init() for a in self.auxiliaries},
            full_round=self.steps_per_round,
            trained=trained,
        )


PROXY_STREAM = 7  # the proxy's initialisation: fold_in(init_key, PROXY_STREAM)


def build_proxy(proxy, config, num_classes: int):
    """The network a :class:`~lgl_spl.samplers.Proxy` names: its model (else the student's
    architecture and keyword arguments) at ``proxy.width`` × the student's ``model.width``."""
    return models.get_model(
        proxy.model or config.model.name,
        num_classes=num_classes,
        width=float(proxy.width) * float(config.model.width),
        compute_dtype=config.train.compute_dtype,
        **(dict(config.model.kwargs) if not proxy.model else {}),
    )


def _sampler_context(config, ds, timer: PhaseTimer) -> SamplerContext:
    """What a method's code is built from: the training set's sizes, labels and pixels."""
    return SamplerContext(
        num_examples=int(ds.y_train.shape[0]),
        num_classes=int(ds.num_classes),
        batch_size=int(config.train.batch_size),
        seed=int(config.seed),
        num_steps=int(config.train.num_steps),
        labels=np.asarray(ds.y_train, np.int32),
        x_train=ds.x_train if ds.train_source is None else None,
        timer=timer,
    )


def _method_step(method, selector, batch_size: int) -> dict:
    """The method's parts of the train step (``make_steps``'s keywords)."""
    return dict(
        selector=selector.select if selector is not None else None,
        batch_size=batch_size,
        warmup_steps=selector.warmup_steps if selector is not None else 0,
        step_signals=method.step_signals,
        loss_mean=method.loss_mean,
    )


def build_experiment(config) -> Experiment:
    """Load the data and build every fixed part of the run (the slow set-up).

    The experiment's config is ``config`` resolved against the data
    (``train.run_length.resolve``: run length, evaluation cadence, schedule, the
    method's derived settings).
    """
    mesh = parallel.make_mesh(int(config.train.num_devices))
    check_in_memory_limit(config)  # before the data are read
    dataset = data_lib.load(config.data, seed=config.seed)
    method = get_method(config.method.name)
    # A learner's own data (RHO-LOSS's holdout) leave the training set before it is sized.
    dataset, carved = carve_data(method.auxiliary, config, dataset)
    validate_run(config, dataset, mesh.size)
    fingerprint = config_fingerprint(config)
    config = run_length.resolve(
        config, num_train=int(dataset.y_train.shape[0]), num_classes=int(dataset.num_classes)
    )
    check_sizes(config, dataset, mesh)  # what the settings imply, before anything is built
    ds = dataset
    timer = PhaseTimer()
    ctx = _sampler_context(config, ds, timer)
    # The method first: its data-dependent checks fail before the model is built.
    sampler = make_sampler(config.method, ctx)
    selector = sampler.step_selector
    if selector is not None:
        validate_step_selector(selector, ctx.batch_size, mesh.size)
    feeder = functools.partial(make_feeder, mesh=mesh, data_cfg=config.data, seed=ctx.seed)
    train_feed = feeder(ds.x_train, ds.y_train, ds.train_source)
    test_feed = feeder(ds.x_test, ds.y_test, ds.test_source)
    parts = {
        "context": ctx,
        "mesh": mesh,
        "train_feed": train_feed,
        "test_feed": test_feed,
        "dataset": ds,
        "data": carved,
    }
    auxiliaries = build_auxiliaries(method.auxiliary, config, parts)
    spec = data_lib.default_augment(config.data.name, config.data.augment)
    model = models.get_model(
        config.model.name,
        num_classes=int(ds.num_classes),
        width=float(config.model.width),
        compute_dtype=config.train.compute_dtype,
        **dict(config.model.kwargs),
    )
    tx = make_optimizer(config.train)
    schedule = make_schedule(config.train)
    loss_transform = None
    if method.loss_transform is not None:
        loss_transform = method_code(method, method.loss_transform, config.method, ctx)
    proxy_model = None
    if selector is not None and selector.proxy is not None:
        proxy_model = build_proxy(selector.proxy, config, int(ds.num_classes))
    steps = make_steps(
        model, tx, schedule, spec, mesh, host_batches=train_feed.host_batches,
        **_method_step(method, selector, ctx.batch_size),
        loss_transform=loss_transform, proxy_model=proxy_model,
    )  # fmt: skip
    init_key, step_key = jax.random.split(jax.random.key(int(config.seed)))
    return Experiment(
        config=config,
        fingerprint=fingerprint,
        mesh=mesh,
        dataset=dataset,
        model=model,
        tx=tx,
        schedule=schedule,
        spec=spec,
        steps=steps,
        train_feed=train_feed,
        test_feed=test_feed,
        val_feed=feeder(ds.x_val, ds.y_val, ds.val_source) if len(ds.y_val) else None,
        sampler=sampler,
        auxiliaries=auxiliaries,
        step_selector=selector,
        loss_transform=loss_transform,
        proxy_model=proxy_model,
        step_signals=method.step_signals,
        evaluator=Evaluator(
            steps, mesh, eval_batch_size=int(config.train.eval_batch_size), timer=timer
        ),
        timer=timer,
        init_key=init_key,
        step_key=parallel.put_replicated(step_key, mesh),
    )
