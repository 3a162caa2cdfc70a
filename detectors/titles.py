"""Project-title similarity (contract/funds.md): normalise, then the Indel ratio.

Normalised: Unicode NFKC, case-folded, only characters whose category starts with `L`
or `N`. Similarity = 2 × LCS(a, b) / (len(a) + len(b)); rapidfuzz's Indel distance is
len(a) + len(b) − 2 × LCS, so the decision is made in integers (no float at the edge of
the threshold), with rapidfuzz's cutoff skipping pairs that cannot reach it.
"""

from __future__ import annotations

import unicodedata
from fractions import Fraction

from rapidfuzz.distance import Indel


def normalise(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


def at_least(a: str, b: str, threshold: Fraction) -> Fraction | None:
    """The similarity of two normalised titles if it is >= threshold, else None."""
    total = len(a) + len(b)
    if total == 0:
        return None
    # similarity >= p/q  <=>  distance <= (1 - p/q) * total, in integers
    p, q = threshold.numerator, threshold.denominator
    max_distance = ((q - p) * total) // q
    if abs(len(a) - len(b)) > max_distance:
        return None
    distance = Indel.distance(a, b, score_cutoff=max_distance)
    if distance > max_distance:
        return None
    return Fraction(total - distance, total)


def similarity(a: str, b: str) -> float:
    """2 × LCS / (len(a) + len(b)) of two normalised titles."""
    total = len(a) + len(b)
    return 0.0 if total == 0 else (total - Indel.distance(a, b)) / total
