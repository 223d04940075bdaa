"""The project's jitted train step against a plain JAX step of the same work.

    taskset -c 0 python launch/bench_step.py [--steps 300] [--repeats 4]

Both train the README job's LeNet (``configs/digits_random.py``) on index batches of 64
gathered on the device, with weights and a cosine-scheduled SGD with momentum and weight
decay. Three variants alternate in blocks of ``--steps``:

* ``project``: ``Steps.train`` called as the loop calls it: the round's index and weight
  rows and the schedule step passed as numpy values, placed by jit as it dispatches;
* ``project, arguments placed first``: the same step with those arguments put on the
  devices beforehand (``jax.device_put``), as the loop did until 2026-12-04;
* ``project, jnp schedule step``: numpy rows, the schedule step made with ``jnp.float32``
  every step, as the loop also did;
* ``plain``: a jitted step written directly (``launch/plain_jax_job.py``'s), numpy
  indices and weights passed straight to it.

Medians per step, and the ratios to ``plain``. Then the passes over a split, the same way:
the project's ``Evaluator.evaluate`` (test split) and ``Evaluator.score`` (per-example
losses of the training split) against plain jitted forwards over the same batches
(``--passes`` passes a block).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--passes", type=int, default=20)
    args = p.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from lgl_spl import parallel
    from lgl_spl.train.experiment import build_experiment
    from lgl_spl.train.steps import StepBatch
    from tests.helpers import load_config

    config = load_config("digits_random")
    config.train.compilation_cache = "off"
    exp = build_experiment(config)
    mesh, model = exp.mesh, exp.model
    state = exp.initial_state().train
    x, y = exp.train_feed.x, exp.train_feed.y
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, exp.num_train, 64).astype(np.int32) for _ in range(200)]
    weights = np.ones(64, np.float32)
    mask = parallel.put_replicated(np.ones(exp.num_classes, bool), mesh)

    tx = optax.chain(
        optax.add_decayed_weights(5e-4),
        optax.sgd(optax.cosine_decay_schedule(0.05, 1500), momentum=0.9),
    )
    params = jax.tree.map(jnp.copy, state.params)  # the project's step donates its state
    opt_state = tx.init(params)

    @jax.jit
    def plain_step(params, opt_state, idx, w):
        def loss_fn(p):
            images = (x[idx].astype(jnp.float32) / 255.0 - 0.5) / 0.25
            logits, _ = model.apply({"params": p}, images, train=False)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y[idx])
            return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    placed = jax.device_put(rows, parallel.batch_sharded(mesh))
    placed_w, placed_s = parallel.put_batch(weights, mesh), jnp.float32(3)
    carry = {"state": state, "params": params, "opt": opt_state}

    def as_loop(schedule_step):
        """The step called as the loop calls it, the schedule step made by ``schedule_step``."""

        def run(k):
            s = carry["state"]
            for i in range(k):
                batch = StepBatch(x, y, rows[i % 200], weights)
                s, _ = exp.steps.train(s, batch, exp.step_key, schedule_step(i), mask, {})
            carry["state"] = jax.block_until_ready(s)

        return run

    def project_placed(k):
        s = carry["state"]
        for i in range(k):
            batch = StepBatch(x, y, placed[i % 200], placed_w)
            s, _ = exp.steps.train(s, batch, exp.step_key, placed_s, mask, {})
        carry["state"] = jax.block_until_ready(s)

    def plain(k):
        pr, o = carry["params"], carry["opt"]
        for i in range(k):
            pr, o, _ = plain_step(pr, o, rows[i % 200], weights)
        carry["params"], carry["opt"] = jax.block_until_ready((pr, o))

    variants = {
        "project": as_loop(np.float32),
        "project, arguments placed first": project_placed,
        "project, jnp schedule step": as_loop(jnp.float32),
        "plain": plain,
    }
    print(f"jax {jax.__version__}, {jax.devices()}, {args.repeats} blocks of {args.steps} steps")
    _compare(variants, "plain", args.steps, args.repeats, "step")

    # Passes over a split: the evaluator against plain forwards over the same batches.
    ev, every = exp.evaluator, np.ones(exp.num_classes, bool)
    st = carry["state"]
    xt, yt = exp.test_feed.x, exp.test_feed.y
    n_test, n_train = exp.test_feed.size, exp.num_train
    test_size = parallel.pass_batch_size(n_test, ev.eval_batch_size, mesh.size)
    train_size = parallel.pass_batch_size(n_train, ev.eval_batch_size, mesh.size)
    test_rows = list(parallel.padded_batches(np.arange(n_test), test_size))
    train_rows = list(parallel.padded_batches(np.arange(n_train), train_size))
    variables = {"params": st.params}

    @jax.jit
    def plain_eval(idx, w):
        logits, _ = model.apply(
            variables, (xt[idx].astype(jnp.float32) / 255.0 - 0.5) / 0.25, train=False
        )
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yt[idx])
        return jnp.sum((jnp.argmax(logits, -1) == yt[idx]) * w), jnp.sum(ce * w)

    @jax.jit
    def plain_losses(idx):
        logits, _ = model.apply(
            variables, (x[idx].astype(jnp.float32) / 255.0 - 0.5) / 0.25, train=False
        )
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[idx])

    def plain_evaluate(k):
        for _ in range(k):
            sums = [plain_eval(i, w) for i, w in test_rows]
            float(sum(c for c, _ in jax.device_get(sums)))

    def plain_score(k):
        for _ in range(k):
            parts = [plain_losses(i) for i, _ in train_rows]
            np.concatenate(jax.device_get(parts))[:n_train]

    def project_evaluate(k):
        for _ in range(k):
            ev.evaluate(st, exp.test_feed, every)

    def project_score(k):
        for _ in range(k):
            ev.score(st, exp.train_feed, every, exp.dataset.y_train, ("losses",))

    print(f"passes: test {n_test} in batches of {test_size}, train {n_train} of {train_size}")
    _compare(
        {"evaluate": project_evaluate, "plain forward": plain_evaluate},
        "plain forward",
        args.passes,
        args.repeats,
        "pass",
    )
    _compare(
        {"score": project_score, "plain forward": plain_score},
        "plain forward",
        args.passes,
        args.repeats,
        "pass",
    )


def _compare(variants: dict, baseline: str, count: int, repeats: int, unit: str) -> None:
    """Alternating blocks of ``count`` calls; medians and the median within-block ratios."""
    for fn in variants.values():  # compile
        fn(2)
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t = time.perf_counter()
            fn(count)
            times[name].append((time.perf_counter() - t) / count)
    base = times[baseline]
    for name, v in times.items():
        ratio = statistics.median(a / b for a, b in zip(v, base, strict=True))
        print(f"  {name:30s} {1e3 * statistics.median(v):.3f} ms/{unit} ({ratio:.2f}x {baseline})")


if __name__ == "__main__":
    main()
