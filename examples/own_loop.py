"""lgl_spl's samplers in a plain Flax + optax loop of your own, on your own model and arrays.

    python examples/own_loop.py                      # spl, spld, advise and lgl on digits
    python examples/own_loop.py --methods lgl --rounds 12

Each round: ask the sampler which signals it needs, compute them with the model
(``L.compute_signals``), get the round's plan, train on ``plan.indices`` weighted
by ``plan.weights`` with the classes of ``plan.class_mask``. README: "In your own loop".
"""

from __future__ import annotations

import argparse
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

import lgl_spl as L

SETTINGS = {  # each method's settings (docs/design.md §3); the rest keep their defaults
    "spl": {"q0": 0.5},
    "spld": {"num_clusters": 3},
    "advise": dict(
        num_clusters=3,
        clusters_per_batch=4,
        examples_per_cluster=8,
        embed_steps=-1,
        refresh_every=20,
        embed_lr=1e-3,
        embed_width=0.5,
        snapshot_examples=0,
        knn_examples=0,
    ),  # fmt: skip
    "lgl": {"num_stages": 2, "order": "dissimilar"},
}


class Net(nn.Module):
    """Your model: any Linen module; here logits and the features SPLD may cluster."""

    num_classes: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.max_pool(nn.relu(nn.Conv(16, (3, 3))(x)), (2, 2), (2, 2))
        features = nn.relu(nn.Dense(64)(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.num_classes)(features), features


MODEL = Net(num_classes=10)
SCHEDULE = optax.cosine_decay_schedule(0.05, decay_steps=1000)
TX = optax.trace(decay=0.9)  # SGD with momentum; the step applies the learning rate


@jax.jit
def train_step(params, opt_state, x, y, weights, class_mask, lr):
    def loss_fn(p):
        logits, _ = MODEL.apply({"params": p}, x, train=True)
        losses = L.per_example_losses(logits, y, class_mask)  # masked classes never win
        return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = TX.update(grads, opt_state)
    return optax.apply_updates(params, jax.tree.map(lambda u: -lr * u, updates)), opt_state, loss


predict = jax.jit(lambda params, x: MODEL.apply({"params": params}, x))


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
    learner = L.build_embedding_learner(x, sampler=sampler) if method == "advise" else None
    key = jax.random.key(seed)
    params = MODEL.init(key, x[:1])["params"]
    opt_state, state = TX.init(params), sampler.init()
    embedding = learner.init() if learner else None
    mask, fractions = np.ones(10, bool), []
    for r in range(sampler.num_rounds):
        signals = {}
        if learner:  # SPL-ADVisE: the embedding's steps owed before round r, then its clusters
            embedding, _ = learner.advance(embedding, r)
            signals["groups"] = learner.cluster_ids(embedding)
        wanted = sampler.needs(state, r)
        model = functools.partial(predict, params)  # eval mode, this round's parameters
        signals.update(L.compute_signals(model, x, y, wanted, class_mask=mask))
        plan, state = sampler.plan(state, r, **signals)
        mask = plan.class_mask
        if plan.reinit_classes is not None:  # LGL: fresh classifier rows for the new classes
            path = L.classifier_path(params, 10)
            params = L.reinit_classes(params, path, plan.reinit_classes, jax.random.fold_in(key, r))
        fractions.append(plan.info["selected_fraction"])
        for i in range(sampler.steps_per_round):
            step = r * sampler.steps_per_round + i
            if step >= steps:
                break
            idx = plan.indices[i]
            lr = SCHEDULE(plan.schedule_step(step))
            params, opt_state, loss = train_step(
                params, opt_state, x[idx], y[idx], plan.weights[i], mask, lr
            )
    logits, _ = predict(params, x_test)
    accuracy = float(np.mean(np.argmax(np.where(mask, logits, -np.inf), -1) == y_test))
    return {"test_accuracy": accuracy, "selected_fraction": fractions, "last_loss": float(loss)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="spl,spld,advise,lgl")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--num_train", type=int, default=1200)
    args = parser.parse_args(argv)
    train, test = load(args.num_train)
    results = {}
    for method in args.methods.split(","):
        results[method] = run(method, train, test, rounds=args.rounds, batch=args.batch)
        fractions = " ".join(f"{f:.2f}" for f in results[method]["selected_fraction"])
        print(f"{method:7s} test accuracy {results[method]['test_accuracy']:.3f}; "
              f"selected per round: {fractions}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
