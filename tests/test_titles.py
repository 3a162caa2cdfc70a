"""Title similarity: rapidfuzz's Indel ratio is the contract's 2 × LCS / (len a + len b),
checked against a hand-written LCS on random strings; normalisation per the contract."""

from __future__ import annotations

import random
from fractions import Fraction

from rapidfuzz import fuzz

from detectors.titles import at_least, normalise, similarity


def lcs(a: str, b: str) -> int:
    """Textbook dynamic programming, one row at a time."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def contract(a: str, b: str) -> Fraction:
    return Fraction(2 * lcs(a, b), len(a) + len(b))


def test_rapidfuzz_ratio_is_the_contracts_definition() -> None:
    rng = random.Random(7)
    alphabets = ["ab", "abcd", "冷链物流仓储中心建设项目年产万吨0123", "abcdefghijklmnopqrstuvwxyz"]
    for _ in range(3000):
        alphabet = rng.choice(alphabets)
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        want = contract(a, b)
        assert abs(fuzz.ratio(a, b) / 100 - float(want)) < 1e-9
        assert abs(similarity(a, b) - float(want)) < 1e-12
        for t in (Fraction(85, 100), Fraction(1, 2), want):
            got = at_least(a, b, t)
            assert got == (want if want >= t else None), (a, b, t)


def test_threshold_is_exact_at_the_edge() -> None:
    # 17 of 20 characters in common on each side: exactly 0.85, which is similar.
    a = "abcdefghijklmnopqrst"
    b = "abcdefghijklmnopqXYZ"
    assert contract(a, b) == Fraction(85, 100)
    assert at_least(a, b, Fraction("0.85")) == Fraction(85, 100)
    assert at_least(a, b + "Q", Fraction("0.85")) is None


def test_normalise_nfkc_casefold_letters_and_digits() -> None:
    assert normalise("沈北新区 （年处理３万） 吨冷链物流仓储中心产业化项目。") == (
        "沈北新区年处理3万吨冷链物流仓储中心产业化项目"
    )
    assert normalise("ＡＢＣ-Project_Ⅱ!") == "abcprojectii"
    assert normalise("——（）。 ") == ""
