"""Contextual-bandit re-ranking of a recommender's candidates, with offline replay and simulator evaluation."""
