"""People's names from beyond the US census, with no spaCy model: names Faker writes in Greek, Cyrillic or
Devanagari (read in their usual Latin spellings), Japanese names by their shape beside a Japanese surname, and
surnames marked by their endings; and the look-alikes that must stay words."""

from __future__ import annotations

import pytest

from loomllm import scan_text

FOUND = [
    "Giorgos Nikolaidis", "Eleni Karagianni", "Konstantinos Petridis", "Vasiliki Ioannou",  # Greek
    "Sergey Morozov", "Oleksandr Kovalenko", "Natalya Smirnova", "Dmitri Sokolov", "Yevgeny Orlov",  # Cyrillic
    "Aditya Sharma", "Lakshmi Nair", "Abhishek Kulkarni", "Aravind Menon",  # Devanagari
    "Haruto Suzuki", "Sota Nakamura", "Yamamoto Daiki", "Minato Kobayashi", "Riku Watanabe",  # Japanese
    "Atsushi Odagiri",  # a listed given name and a Japanese-shaped surname
    "Maciej Fijalkowski", "Goran Tvrtković", "Nino Beridze",  # surname endings
]
WORDS = [
    "Use Goto Definition in the editor.", "The Sato Banana Bread recipe.", "Ito Time Tracker",
    "Kato Api Gateway", "Open Mori Tower Settings and Goto Home.",
]


@pytest.mark.parametrize("name", FOUND)
def test_found_with_its_whole_span(name: str) -> None:
    text = f"The refund was approved by {name} on Tuesday."
    start = text.index(name)
    assert [("PERSON", start, start + len(name))] == [
        (f.entity_type, f.start, f.end) for f in scan_text(text, profile="standard") if f.entity_type == "PERSON"
    ]


@pytest.mark.parametrize("text", WORDS)
def test_look_alikes_stay_words(text: str) -> None:
    assert [] == [f for f in scan_text(text, profile="standard") if f.entity_type == "PERSON"]
