"""lgl_spl's samplers in a plain Flax NNX loop: your own nnx.Module, nnx.Optimizer, arrays.

    python examples/own_loop_nnx.py                  # spl and spld on digits
    python examples/own_loop_nnx.py --methods spld --rounds 12

The loop of examples/own_loop.py with an NNX model: each round, ask the sampler which
signals it needs, compute them with the model in eval mode (``L.compute_signals``), get
the round's plan, and train on ``plan.indices`` weighted by ``plan.weights``. README:
"In your own loop".
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

import lgl_spl as L

SETTINGS = {"spl": {"q0": 0.5}, "spld": {"num_clusters": 3}}  # docs/design.md §3


class Net(nnx.Module):
    """Your model: any nnx.Module; here logits and the features SPLD may cluster."""

    def __init__(self, num_classes: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 16, (3, 3), rngs=rngs)
        self.norm = nnx.BatchNorm(16, rngs=rngs)
        self.hidden = nnx.Linear(16 * 4 * 4, 64, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.head = nnx.Linear(64, num_classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.norm(self.conv(x))), (2, 2), (2, 2))
        features = nnx.relu(self.hidden(x.reshape(x.shape[0], -1)))
        return self.head(self.dropout(features)), features


SCHEDULE = optax.cosine_decay_schedule(0.05, decay_steps=1000)


@nnx.jit
def train_step(model, optimizer, x, y, weights, class_mask, lr):
    optimizer.opt_state.hyperparams["learning_rate"][...] = lr  # the plan's schedule step

    def loss_fn(model):
        logits, _ = model(x)
        losses = L.per_example_losses(logits, y, class_mask)  # masked classes never win
        return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def predict(model, x):
    return model(x)


def load(num_train: int):
    digits = load_digits()
    x = (digits.images[..., None] / 16.0).astype(np.float32)  # [N, 8, 8, 1] in [0, 1]
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], digits.target[order].astype(np.int32)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])


def run(method: str, train, test, *, rounds: int, batch: int, seed: int = 0) -> dict:
    (x, y), (x_test, y_test) = train, test
    steps = rounds * -(-len(y) // batch)
    sampler = L.build_sampler(
        method, labels=y, batch_size=batch, num_steps=steps, seed=seed, **SETTINGS[method]
    )
    model = Net(10, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.05, momentum=0.9)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    state, mask, fractions = sampler.init(), np.ones(10, bool), []
    for r in range(sampler.num_rounds):
        model.eval()  # BatchNorm's running averages, no dropout
        wanted = sampler.needs(state, r)
        signals = L.compute_signals(lambda xb: predict(model, xb), x, y, wanted, class_mask=mask)
        plan, state = sampler.plan(state, r, **signals)
        mask = plan.class_mask
        fractions.append(plan.info["selected_fraction"])
        model.train()
        for i in range(sampler.steps_per_round):
            step = r * sampler.steps_per_round + i
            if step >= steps:
                break
            idx = plan.indices[i]
            lr = SCHEDULE(plan.schedule_step(step))
            loss = train_step(model, optimizer, x[idx], y[idx], plan.weights[i], mask, lr)
    model.eval()
    logits, _ = predict(model, x_test)
    accuracy = float(np.mean(np.argmax(np.where(mask, logits, -np.inf), -1) == y_test))
    return {"test_accuracy": accuracy, "selected_fraction": fractions, "last_loss": float(loss)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="spl,spld")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--num_train", type=int, default=1200)
    args = parser.parse_args(argv)
    train, test = load(args.num_train)
    results = {}
    for method in args.methods.split(","):
        results[method] = run(method, train, test, rounds=args.rounds, batch=args.batch)
        fractions = " ".join(f"{f:.2f}" for f in results[method]["selected_fraction"])
        print(f"{method:5s} test accuracy {results[method]['test_accuracy']:.3f}; "
              f"selected per round: {fractions}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
