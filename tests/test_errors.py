"""The wording helpers that every error and summary shares."""

import pytest

from feed.errors import counted, with_article


@pytest.mark.parametrize(
    ("count", "noun", "said"),
    [(0, "row", "0 rows"), (1, "row", "1 row"), (2, "byte", "2 bytes"),
     (1013, "active indicator", "1,013 active indicators")],
)  # fmt: skip
def test_counted_says_the_count_as_people_read_it(count: int, noun: str, said: str) -> None:
    assert counted(count, noun) == said


@pytest.mark.parametrize(
    ("noun", "said"),
    [("Ethereum", "an Ethereum"), ("Bitcoin", "a Bitcoin"), ("XRP", "an XRP")],
)
def test_with_article_goes_by_how_the_noun_is_read(noun: str, said: str) -> None:
    assert with_article(noun) == said
