"""The README's main job written as a plain JAX/Flax script: the baseline of bench_sidebyside.

    python launch/plain_jax_job.py --npz digits.npz [--steps 1500] [--cache DIR]

The same work as ``python -m lgl_spl.main --config configs/digits_random.py`` on the
same arrays: LeNet (conv6-pool-conv16-pool-fc120-fc84-head), SGD with momentum 0.9 and
weight decay 5e-4 under a cosine schedule from 0.05, batches of 64 drawn as a fresh
permutation of the training set every pass (the last batch of a pass padded at weight
0), the data on the device and gathered by index inside the step, normalisation
``(x/255 - 0.5)/0.25``, a test evaluation every 250 steps. No checkpoints, no files.

It prints one JSON line: ``startup_s`` (process start, given as ``BENCH_T0``, to the
first step), ``first_step_s`` (compilation and one step), ``step_ms`` (the rest of the
loop per step, evaluations included), ``job_s`` (process start to the end of training),
then ``eval_s`` and ``score_s``: one more pass over the test split (accuracy and loss)
and one over the training split (per-example losses), both already compiled.
"""

from __future__ import annotations

import os
import time

T0 = float(os.environ.get("BENCH_T0", time.time()))

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default="", help="JAX compilation cache directory (default none)")
    args = p.parse_args()

    import jax

    if args.cache:
        jax.config.update("jax_compilation_cache_dir", args.cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    import flax.linen as nn
    import jax.numpy as jnp
    import optax

    class LeNet(nn.Module):
        num_classes: int

        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(6, (5, 5), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
            x = nn.relu(nn.Conv(16, (5, 5), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
            x = x.reshape(x.shape[0], -1)
            x = nn.relu(nn.Dense(120)(x))
            x = nn.relu(nn.Dense(84)(x))
            return nn.Dense(self.num_classes)(x)

    with np.load(args.npz) as f:
        x_train, y_train = f["x_train"], f["y_train"].astype(np.int32)
        x_test, y_test = f["x_test"], f["y_test"].astype(np.int32)
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    num_classes = int(max(y_train.max(), y_test.max()) + 1)
    n, b = len(y_train), args.batch
    xs, ys = jax.device_put(x_train), jax.device_put(y_train)
    xt, yt = jax.device_put(x_test), jax.device_put(y_test)

    model = LeNet(num_classes)
    schedule = optax.cosine_decay_schedule(args.lr, args.steps)
    tx = optax.chain(
        optax.add_decayed_weights(5e-4), optax.sgd(schedule, momentum=0.9, nesterov=False)
    )

    def images(x):
        return (x.astype(jnp.float32) / 255.0 - 0.5) / 0.25

    params = model.init(jax.random.key(args.seed), images(xs[:1]))
    opt_state = tx.init(params)

    @jax.jit
    def train_step(params, opt_state, idx, w):
        def loss_fn(p):
            ce = optax.softmax_cross_entropy_with_integer_labels(
                model.apply(p, images(xs[idx])), ys[idx]
            )
            return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_batch(params, x, y):
        logits = model.apply(params, images(x))
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.sum(jnp.argmax(logits, -1) == y), jnp.sum(ce)

    @jax.jit
    def losses_batch(params, idx):
        return optax.softmax_cross_entropy_with_integer_labels(
            model.apply(params, images(xs[idx])), ys[idx]
        )

    def evaluate(params):
        correct, loss = eval_batch(params, xt, yt)  # 359 digits: one batch
        return float(correct) / len(y_test), float(loss) / len(y_test)

    def score(params):
        size = -(-n // -(-n // 1000))  # as few batches of at most 1,000 as fit, evenly filled
        order = np.arange(-(-n // size) * size, dtype=np.int32) % n
        parts = [losses_batch(params, order[i : i + size]) for i in range(0, len(order), size)]
        return np.concatenate(jax.device_get(parts))[:n]

    rng = np.random.default_rng(args.seed)
    per_pass = -(-n // b)
    t_start = time.time()
    step, first_step_s, log = 0, None, []
    while step < args.steps:
        perm = rng.permutation(n).astype(np.int32)
        perm = np.concatenate([perm, np.full(per_pass * b - n, perm[-1], np.int32)])
        weights = np.ones(per_pass * b, np.float32)
        weights[n:] = 0.0
        for i in range(per_pass):
            if step == args.steps:
                break
            sl = slice(i * b, (i + 1) * b)
            params, opt_state, loss = train_step(params, opt_state, perm[sl], weights[sl])
            step += 1
            if step == 1:
                jax.block_until_ready(loss)
                first_step_s = time.time() - t_start
                t_first = time.time()
            if step % args.eval_every == 0 or step == args.steps:
                log.append((step, *evaluate(params)))
    jax.block_until_ready(params)
    t_done = time.time()
    t = time.perf_counter()
    evaluate(params)
    eval_s = time.perf_counter() - t
    score(params)  # compiles the scoring pass
    t = time.perf_counter()
    score(params)
    score_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "startup_s": t_start - T0,
                "first_step_s": first_step_s,
                "step_ms": 1e3 * (t_done - t_first) / max(args.steps - 1, 1),
                "job_s": t_done - T0,
                "eval_s": eval_s,
                "score_s": score_s,
                "test_accuracy": log[-1][1],
            }
        )
    )


if __name__ == "__main__":
    main()
