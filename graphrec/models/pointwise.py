"""Pointwise scores: one logit per (user, item, scenario) triple, for the CTR and rating protocols.

The CTR protocol needs a score for given pairs, while
:meth:`graphrec.models.base.Recommender.score` returns a score for every item.
This module derives the pair score from what each model already exposes, so
most model classes need no CTR-specific code. The first rule that fits applies:

* a model that defines a method ``pair_logits(users, items, scenarios)`` is
  scored by it, so a model can add biases or a decoder of its own (BiasedMF,
  GC-MC);
* a model whose ``propagate()`` returns two 2-D tensors ``[U, d]`` and
  ``[I, d]`` (LightGCN) scores ``<e_u, e_i>``;
* a model whose ``propagate()`` returns two 3-D tensors ``[U, S, d]`` and
  ``[I, S, d]`` (ScenarioGNN) scores ``<h_u^s, h_i^s>`` in the pair's scenario ``s``;
* a model with ``user_emb`` and ``item_emb`` but no ``propagate()`` (BPR-MF)
  scores ``<p_u, q_i>``;
* Pop scores ``log(1 + count_i)`` minus the mean of that value over all
  items.

Outside the first rule the logit is the plain inner product, with no learned
bias, so a trained embedding model's ``score()`` ranks items in the same order
as its CTR logits.

Under the rating protocol the predicted rating is ``rating_offset(dataset) +
logit``: the logit is the deviation from the mean training rating.
"""

from __future__ import annotations

from typing import Callable

import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN
from graphrec.models.base import Recommender
from graphrec.models.pop import Pop

PairFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def rating_offset(dataset: RecDataset) -> float:
    """Return the mean training rating, which the rating protocol adds to every pair logit.

    Raises ValueError when the dataset has no training interactions.
    """
    train_ratings = dataset.ratings[dataset.splits == TRAIN]
    if train_ratings.size == 0:
        raise ValueError("the dataset has no training interactions, so the mean training rating is undefined")
    return float(train_ratings.mean())


class PairScorer:
    """Logits of (user, item, scenario) triples from one snapshot of a model's representations.

    The constructor runs ``propagate()`` once, so scoring many batches costs one
    propagation. Gradients flow to the model's parameters when the scorer is
    built with autograd enabled. Build a new scorer after every parameter
    update, because the snapshot does not follow later changes. A model with
    its own ``pair_logits`` method is the exception: the scorer calls that
    method for every batch and keeps no snapshot.

    Raises TypeError for a model that none of the rules in the module
    docstring covers.
    """

    def __init__(self, model: Recommender):
        self.model_name = type(model).__name__
        self._scenario_views = False
        self._model_pair_logits: PairFunction | None = None
        own_pair_logits = getattr(model, "pair_logits", None)
        if callable(own_pair_logits):
            self._model_pair_logits = own_pair_logits
            self._item_logit = self._user_repr = self._item_repr = None
            return

        if isinstance(model, Pop):
            # Pop has no embeddings. The log damps the long tail of counts, and
            # centring puts an item of average log popularity at probability 0.5.
            # The result ranks pairs by popularity but is not calibrated.
            log_counts = torch.log1p(model.counts.float())
            self._item_logit = log_counts - log_counts.mean()
            self._user_repr = self._item_repr = None
            return

        self._item_logit = None
        propagate = getattr(model, "propagate", None)
        if callable(propagate):
            user_repr, item_repr = propagate()
        elif isinstance(getattr(model, "user_emb", None), torch.nn.Embedding) and isinstance(
            getattr(model, "item_emb", None), torch.nn.Embedding
        ):
            user_repr, item_repr = model.user_emb.weight, model.item_emb.weight
        else:
            raise TypeError(
                f"cannot compute pair logits for model class {self.model_name}: it defines none of pair_logits(), "
                "propagate() or the user_emb and item_emb embeddings, and it is not Pop"
            )

        if user_repr.dim() != item_repr.dim() or user_repr.dim() not in (2, 3):
            raise TypeError(
                f"cannot compute pair logits for model class {self.model_name}: propagate() returned tensors of "
                f"shapes {tuple(user_repr.shape)} and {tuple(item_repr.shape)}, expected [N, d] or [N, S, d] for both"
            )
        self._scenario_views = user_repr.dim() == 3
        self._user_repr = user_repr
        self._item_repr = item_repr

    def __call__(self, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return the logits ``[B]`` of the aligned 1-D index tensors ``users``, ``items`` and ``scenarios``."""
        if not users.shape == items.shape == scenarios.shape or users.dim() != 1:
            raise ValueError(
                "users, items and scenarios must be 1-D tensors of the same length, got shapes "
                f"{tuple(users.shape)}, {tuple(items.shape)} and {tuple(scenarios.shape)}"
            )
        if self._model_pair_logits is not None:
            return self._model_pair_logits(users, items, scenarios)
        if self._item_logit is not None:
            return self._item_logit[items]
        if self._scenario_views:
            user_vectors = self._user_repr[users, scenarios]
            item_vectors = self._item_repr[items, scenarios]
        else:
            user_vectors = self._user_repr[users]
            item_vectors = self._item_repr[items]
        return (user_vectors * item_vectors).sum(dim=1)


def pair_logits(
    model: Recommender, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor
) -> torch.Tensor:
    """Compute the model's logit ``[B]`` for each (user, item) pair in the pair's scenario.

    ``sigmoid`` of the result is the predicted click probability. The rules per
    model kind are in the module docstring. This runs ``propagate()`` on every
    call, so to score many batches of a fixed model, build one
    :class:`PairScorer` and call it per batch.
    """
    return PairScorer(model)(users, items, scenarios)
