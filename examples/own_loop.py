"""lgl_spl's samplers in a plain Flax + optax loop of your own, on your own model and arrays.

    python examples/own_loop.py                      # spl, spld, advise and lgl on digits
    python examples/own_loop.py --methods all        # every method, online selection too
    python examples/own_loop.py --methods lgl --rounds 12

Each round: ask the sampler which signals it needs, compute them with the model
(``L.compute_signals``), get the round's plan, train on ``plan.indices`` weighted
by ``plan.weights`` with the classes of ``plan.class_mask``. A step-level method
(``online_hard``, ``online_easy``, ``rho_loss``) plans each step's *candidates*
(``plan.keep`` of them train): the step scores them in eval mode and keeps what the
method's selector picks (``L.score_candidates``, ``L.select_candidates``); RHO-LOSS's
irreducible losses come from ``L.build_irreducible_loss``, static pruning's scores from
``L.build_prune_scores``. A method may reshape the step's per-example losses
(``sampler.loss_transform``: SuperLoss) or average them its own way (``sampler.loss_mean``:
InfoBatch's rescaled losses), and plan from what the steps trained on (``sampler.step_signals``:
InfoBatch keeps each example's last training loss). README: "In your own loop".
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
    # Online selection: each step scores 4 × the batch; RHO-LOSS's two IL models train 5
    # epochs each on one half of the data (the other half is what each scores).
    "online_hard": {"candidates": 256},
    "online_easy": {"candidates": 256},
    "rho_loss": {"candidates": 256, "il_epochs": 5},
    # Static pruning: keep the 70 % of highest EL2N, scored by 2 copies trained 2 epochs.
    "prune": {"score_models": 2, "score_epochs": 2},
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


@functools.partial(jax.jit, static_argnames=("transform", "mean"))
def train_step(params, opt_state, x, y, idx, weights, class_mask, lr, loss_state=None, *,
               transform=None, mean="weights"):  # fmt: skip
    """One update; also returns the loss transform's new state and what it trained on."""

    def loss_fn(p):
        logits, _ = MODEL.apply({"params": p}, x, train=True)
        ce = L.per_example_losses(logits, y, class_mask)  # masked classes never win
        losses, new_state = ce, loss_state
        if transform is not None:  # SuperLoss: each loss reshaped by its confidence
            batch = L.LossBatch(y, logits, idx, weights)
            losses, new_state = transform.apply(loss_state, ce, batch)
        total = jnp.sum(weights > 0) if mean == "examples" else jnp.sum(weights)
        loss = jnp.sum(losses * weights) / jnp.maximum(total, 1.0)
        return loss, (ce, jnp.argmax(logits, -1) == y, jax.lax.stop_gradient(new_state))

    (loss, (ce, correct, loss_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = TX.update(grads, opt_state)
    params = optax.apply_updates(params, jax.tree.map(lambda u: -lr * u, updates))
    return params, opt_state, loss, loss_state, (idx, ce, correct, weights)


predict = jax.jit(lambda params, x: MODEL.apply({"params": params}, x))


@functools.partial(jax.jit, static_argnames=("select", "keep"))
def selecting_step(params, opt_state, x, y, idx, weights, class_mask, lr, per_example, *,
                   select, keep):  # fmt: skip
    """A step-level method's step: score the row's candidates, train on the ``keep`` picked."""
    logits, features = MODEL.apply({"params": params}, x)  # eval mode, current parameters
    candidates = L.score_candidates(
        logits, y, idx, weights, class_mask=class_mask, per_example=per_example,
        features=features,
    )  # fmt: skip
    picked, kept_weights = L.select_candidates(select, candidates, keep)
    return train_step(params, opt_state, x[picked], y[picked], idx[picked], kept_weights,
                      class_mask, lr)  # fmt: skip


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
        method, labels=y, batch_size=batch, num_steps=steps, seed=seed, **SETTINGS.get(method, {})
    )
    learner = L.build_embedding_learner(x, sampler=sampler) if method == "advise" else None
    selector, irreducible = sampler.step_selector, None
    if method == "rho_loss":
        il = L.build_irreducible_loss(x, sampler=sampler, model=Net(10))
        irreducible, _ = il.compute()  # [N]: each example's loss under the IL model
    scores = None
    if method == "prune":  # every example scored once, before the first plan
        scores, _ = L.build_prune_scores(x, sampler=sampler, model=Net(10)).compute()
    transform, mean = sampler.loss_transform, sampler.loss_mean  # superloss, infobatch
    loss_state = transform.init(len(y), 10) if transform else None
    key = jax.random.key(seed)
    params = MODEL.init(key, x[:1])["params"]
    opt_state, state = TX.init(params), sampler.init()
    embedding = learner.init() if learner else None
    mask, fractions, trained = np.ones(10, bool), [], []
    for r in range(sampler.num_rounds):
        signals = {}
        if sampler.step_signals and trained:  # InfoBatch: what the last round's steps saw
            columns = [np.concatenate(column) for column in zip(*trained, strict=True)]
            signals["trained"] = dict(zip(L.Trained._fields, columns, strict=True))
        trained = []
        if learner:  # SPL-ADVisE: the embedding's steps owed before round r, then its clusters
            embedding, _ = learner.advance(embedding, r)
            signals["groups"] = learner.cluster_ids(embedding)
        wanted = sampler.needs(state, r)
        if "scores" in wanted:  # static pruning: what the scoring runs gave
            signals["scores"] = scores
            wanted = wanted - {"scores"}
        model = functools.partial(predict, params)  # eval mode, this round's parameters
        signals.update(L.compute_signals(model, x, y, wanted, class_mask=mask))
        plan, state = sampler.plan(state, r, **signals)
        mask = plan.class_mask
        if plan.reinit_classes is not None:  # LGL: fresh classifier rows for the new classes
            path = L.classifier_path(params, 10)
            params = L.reinit_classes(params, path, plan.reinit_classes, jax.random.fold_in(key, r))
        fractions.append(plan.info["selected_fraction"])
        for i in range(len(plan.indices)):  # a round may be short (dynamic pruning)
            step = r * sampler.steps_per_round + i
            if step >= steps:
                break
            idx, w = plan.indices[i], plan.weights[i]
            lr = SCHEDULE(plan.schedule_step(step))
            if selector is not None and step >= selector.warmup_steps:  # rows of candidates
                extra = {} if irreducible is None else {"irreducible_loss": irreducible[idx]}
                params, opt_state, loss, _, _ = selecting_step(
                    params, opt_state, x[idx], y[idx], idx, w, mask, lr, extra,
                    select=selector.select, keep=plan.keep,
                )  # fmt: skip
                continue
            if selector is not None:  # a warm-up step: the row's first candidates
                idx, w = idx[: plan.keep], w[: plan.keep]
            params, opt_state, loss, loss_state, seen = train_step(
                params, opt_state, x[idx], y[idx], idx, w, mask, lr, loss_state,
                transform=transform, mean=mean,
            )  # fmt: skip
            trained.append(jax.device_get(seen))
    logits, _ = predict(params, x_test)
    accuracy = float(np.mean(np.argmax(np.where(mask, logits, -np.inf), -1) == y_test))
    return {"test_accuracy": accuracy, "selected_fraction": fractions, "last_loss": float(loss)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="spl,spld,advise,lgl", help="or: all")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--num_train", type=int, default=1200)
    args = parser.parse_args(argv)
    train, test = load(args.num_train)
    results = {}
    methods = L.BUILT_IN if args.methods == "all" else args.methods.split(",")
    for method in methods:
        results[method] = run(method, train, test, rounds=args.rounds, batch=args.batch)
        fractions = " ".join(f"{f:.2f}" for f in results[method]["selected_fraction"])
        print(f"{method:11s} test accuracy {results[method]['test_accuracy']:.3f}; "
              f"selected per round: {fractions}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
