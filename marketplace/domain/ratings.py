"""The two formulas derived from reviews: a seller's rating and a listing's quality score.

Both are pure functions of the stored reviews (count and total of ratings), so reviews
applied in any order, or re-sent, always give the same numbers.

Quality score (0-100, one decimal): a Bayesian average of the seller's ratings that starts
from `PRIOR_MEAN` as if the seller already had `PRIOR_WEIGHT` such reviews, mapped linearly
from the 1-5 rating scale onto 0-100:

    bayes   = (PRIOR_WEIGHT * PRIOR_MEAN + total) / (PRIOR_WEIGHT + count)
    quality = round(25 * (bayes - 1), 1)

A new seller scores 50.0; one 5-star review lifts that to 58.3, not to 100, and a long record
of 5-star reviews approaches 100.
"""

from __future__ import annotations

PRIOR_MEAN = 3.0
PRIOR_WEIGHT = 5
AVERAGE_DECIMALS = 2
SCORE_DECIMALS = 1


def average(count: int, total: int) -> float | None:
    """The seller's plain average rating, or None before the first review."""
    return round(total / count, AVERAGE_DECIMALS) if count else None


def quality_score(count: int, total: int) -> float:
    bayes = (PRIOR_WEIGHT * PRIOR_MEAN + total) / (PRIOR_WEIGHT + count)
    return round(25 * (bayes - 1), SCORE_DECIMALS)
