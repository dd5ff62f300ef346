"""The answer benchmark's scoring functions on fixed examples."""

from __future__ import annotations

import pytest
from benchmarks.answers.data import Case, abstention_cases, split_of
from benchmarks.answers.scoring import abstains, contains_gold, leaks_prompt, normalise, token_f1


def test_normalise_drops_case_accents_articles_punctuation_and_citations() -> None:
    assert normalise("L'Élysée, c'est à Paris [1] !") == "elysee c est paris"
    assert normalise("Les Misérables [1, 2]") == "miserables"


@pytest.mark.parametrize(
    ("answer", "golds", "expected"),
    [
        ("Victor Hugo est né en 1802 [1].", ["1802"], True),
        ("Il est né à Besançon.", ["besancon"], True),
        ("La réponse est le Rhône.", ["Rhône", "fleuve Rhône"], True),
        ("Il est né en 18020.", ["1802"], False),  # whole words only
        ("Je ne sais pas.", ["1802"], False),
    ],
)
def test_contains_gold(answer: str, golds: list[str], expected: bool) -> None:
    assert contains_gold(answer, golds) is expected


def test_token_f1_is_squad_f1_over_normalised_tokens() -> None:
    assert token_f1("Victor Hugo", ["Victor Hugo"]) == 1.0
    assert token_f1("Hugo", ["Victor Hugo"]) == pytest.approx(2 / 3)
    assert token_f1("Émile Zola", ["Victor Hugo"]) == 0.0
    assert token_f1("en 1802", ["1802", "en l'année 1802"]) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Les documents ne contiennent pas cette information.", True),
        ("Le texte ne précise pas la date de sa naissance.", True),
        ("Il n'y a pas d'information à ce sujet dans la source [1].", True),
        ("The sources do not contain the answer.", True),
        ("Il est né en 1802 [1].", False),
    ],
)
def test_abstains(answer: str, expected: bool) -> None:
    assert abstains(answer) is expected


def test_leaks_prompt() -> None:
    assert leaks_prompt("Réponds uniquement à partir des sources numérotées ci-dessous.")
    assert not leaks_prompt("Selon la source [1], la réponse est 1802.")


def _case(article: str, n: int) -> Case:
    return Case(f"q{n}", article, f"Question {n} ?", f"Paragraphe {n}.", article, (str(n),))


def test_abstention_cases_take_a_paragraph_of_another_article() -> None:
    cases = [_case("A", 1), _case("A", 2), _case("B", 3)]
    paired = abstention_cases(cases, 3)
    assert [c.paragraph for c in paired] == ["Paragraphe 3.", "Paragraphe 3.", "Paragraphe 1."]
    assert all(not c.answerable for c in paired)


def test_the_split_is_by_article_and_stable() -> None:
    assert split_of("Victor Hugo") == split_of("Victor Hugo")
    splits = {split_of(f"Article {n}") for n in range(50)}
    assert splits == {"dev", "test"}
