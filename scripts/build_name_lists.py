"""Write ``loomllm/_guardrails/names_world.txt``: given names and surnames beyond the 1990 US census lists.

Everyday English words (Faker's English word list, spaCy's stop words) are left out.

PERSON without a spaCy model checks capitalised word pairs against name lists. The census lists (the ``names``
package) know few names that are rare in the US; this file adds the Latin-script names of Faker's person
providers (86 locales, MIT licence), accents folded, plus surnames that lead a name in Chinese, Korean and
Vietnamese usage (``Liu Yang``, ``Park Ji-woo``, ``Nguyen Thi Lan``). Names Faker writes in Greek, Cyrillic,
Hangul, Devanagari, Bengali, Gujarati or Odia are added in the Latin spellings people use for them (``Νίκος``
-> ``nikos``, ``Дмитрий`` -> ``dmitriy``/``dmitry``/``dmitri``, ``अनन्या`` -> ``ananya``); Japanese surnames get
a list of their own, and common English words (wordfreq) one that tells an unlisted surname from a word.

Run (needs ``pip install -e '.[name-lists]'``: Faker, anyascii and wordfreq, build-time tools only):
``.venv/bin/python scripts/build_name_lists.py`` — the output is committed; loomllm never imports Faker.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "loomllm" / "_guardrails" / "names_world.txt"
_LATIN = re.compile(r"[a-z][a-z\-]*[a-z]")
#: Romanized surnames that come first; Faker's Korean names are Hangul only.
_KOREAN = "kim lee park choi jung jeong kang cho yoon yun jang lim han oh seo shin kwon hwang ahn song jeon hong ko"
#: Leading surnames that are also everyday English words: they never open a name on their own.
_ENGLISH_WORDS = (
    "he an do ho le ly ma mi ha la lo long song sun king hung bang man pan fan tan wan gun oh so yu ye "
    "mo bo go ko me my no on or to up we us hong she chin pi ti tu mu fu gong ding pang lung ling mao kung pao tai "
    "lei chi chu hua hao"
)
_ENGLISH = frozenset(_ENGLISH_WORDS.split())


def fold(word: str) -> str:
    """Lower-case ASCII spelling: accents dropped, dotless i as i, apostrophes removed."""
    word = word.replace("ı", "i").replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O")
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word.lower().replace("'", "").replace("’", "")


_GREEK_PAIRS = {"ου": "ou", "αι": "ai", "ει": "ei", "οι": "oi", "αυ": "av", "ευ": "ev", "γγ": "ng", "γκ": "ng",
                "μπ": "mb", "ντ": "nt", "τσ": "ts", "τζ": "tz"}
_GREEK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψω", ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n",
                  "x", "o", "p", "r", "s", "s", "t", "y", "f", "ch", "ps", "o"], strict=True))
_DEVANAGARI_CONSONANTS = {
    "KA": "k", "KHA": "kh", "GA": "g", "GHA": "gh", "NGA": "n", "CA": "ch", "CHA": "chh", "JA": "j", "JHA": "jh",
    "NYA": "n", "TTA": "t", "TTHA": "th", "DDA": "d", "DDHA": "dh", "NNA": "n", "TA": "t", "THA": "th", "DA": "d",
    "DHA": "dh", "NA": "n", "PA": "p", "PHA": "ph", "BA": "b", "BHA": "bh", "MA": "m", "YA": "y", "RA": "r",
    "LA": "l", "VA": "v", "SHA": "sh", "SSA": "sh", "SA": "s", "HA": "h", "LLA": "l", "YYA": "y", "RRA": "r",
    "RHA": "rh",
}
#: Scripts whose letters Unicode names the same way (and whose names Faker has): Hindi, Marathi, Nepali,
#: Bengali, Gujarati, Odia.
_BRAHMIC = frozenset({"DEVANAGARI", "BENGALI", "GUJARATI", "ORIYA"})
_DEVANAGARI_VOWELS = {"A": "a", "AA": "aa", "I": "i", "II": "ee", "U": "u", "UU": "oo", "VOCALIC R": "ri",
                      "E": "e", "AI": "ai", "O": "o", "AU": "au"}


def romanized(name: str) -> set[str]:
    """The Latin spellings of a name written in Greek, Cyrillic, Hangul or a Brahmic script (empty for others)."""
    letters = [unicodedata.name(c, "") for c in name if c.isalpha()]
    if not letters:
        return set()
    if letters[0].startswith("GREEK"):
        return _greek(name)
    if letters[0].split(" ", 1)[0] in _BRAHMIC:
        return _brahmic(name)
    if letters[0].startswith(("CYRILLIC", "HANGUL")):
        from anyascii import anyascii

        spelling = anyascii(name).lower().replace("'", "")
        variants = {spelling}
        if name[0] in "Ее" and spelling.startswith("e"):  # Evgeniy, Yevgeniy; Elena, Yelena
            variants.add("y" + spelling)
        for variant in list(variants):
            if variant.endswith(("iy", "yy")):  # Dmitriy, Dmitry, Dmitri
                variants |= {variant[:-2] + "y", variant[:-1]}
        if "ks" in spelling:  # Aleksandr, Alexandr
            variants.add(spelling.replace("ks", "x"))
        if spelling.endswith("iya"):  # Yuliya, Yulia
            variants.add(spelling[:-3] + "ia")
        return variants
    return set()


def _greek(name: str) -> set[str]:
    word = "".join(c for c in unicodedata.normalize("NFD", name.lower()) if not unicodedata.combining(c))
    out, index = [], 0
    while index < len(word):
        pair = word[index:index + 2]
        if pair in _GREEK_PAIRS:
            latin = _GREEK_PAIRS[pair]
            if pair in ("αυ", "ευ") and word[index + 2:index + 3] in ("", *"θκξπστφχψ"):
                latin = latin[0] + "f"  # voiceless before these and at the end: Eleftheria, Evangelos
            out.append(latin[-1] if index == 0 and pair in ("μπ", "ντ", "γκ") else latin)  # initial: b, d, g
            index += 2
        else:
            out.append(_GREEK.get(word[index], ""))
            index += 1
    spelling = "".join(out)
    return {spelling, spelling.replace("ch", "h")}


def _brahmic(name: str) -> set[str]:
    """Latin spellings of a name in Devanagari, Bengali, Gujarati or Odia (letters named alike in Unicode): letter
    by letter, the inherent vowel written except at the end."""
    out: list[str] = []
    inherent = False  # the last consonant still carries its inherent "a"
    for char in name:
        label = unicodedata.name(char, "").partition(" ")[2]  # "LETTER KA", "VOWEL SIGN AA", "SIGN VIRAMA"
        kind, _, sound = label.partition(" ")
        if kind == "LETTER" and sound in _DEVANAGARI_CONSONANTS:
            out.append(("a" if inherent else "") + _DEVANAGARI_CONSONANTS[sound])
            inherent = True
        elif kind == "LETTER" and sound in _DEVANAGARI_VOWELS:
            out.append(("a" if inherent else "") + _DEVANAGARI_VOWELS[sound])
            inherent = False
        elif label.startswith("VOWEL SIGN ") and label[11:] in _DEVANAGARI_VOWELS:
            out.append(_DEVANAGARI_VOWELS[label[11:]])
            inherent = False
        elif label.endswith("SIGN VIRAMA"):
            inherent = False
        elif label.endswith(("SIGN ANUSVARA", "SIGN CANDRABINDU")):
            out.append(("a" if inherent else "") + "n")
            inherent = False
    spelling = "".join(out)
    if inherent and len(out) >= 2 and out[-1] in ("y", "r", "v") and out[-2][-1] not in "aeiou":
        spelling += "a"  # Aditya, Chandra keep it after a cluster ending in y, r or v; Amit, Arvind drop it
    for long, short in (("aa", "a"), ("ee", "i"), ("oo", "u")):  # Ananyaa, Lakshmee: written short at the end
        if spelling.endswith(long):
            spelling = spelling[: -len(long)] + short
    return {spelling, spelling.replace("aa", "a").replace("ee", "i").replace("oo", "u")}  # Aaditya, Aditya


def words(values: object) -> set[str]:
    out: set[str] = set()
    if isinstance(values, dict):
        values = list(values)
    if not isinstance(values, (list, tuple)):
        return out
    for value in values:
        if isinstance(value, tuple):
            value = value[-1]  # ja_JP pairs end with the romanized form
        if not isinstance(value, str):
            continue
        for part in value.replace("-", " ").split():
            for spelling in romanized(part) or {fold(part)}:
                if _LATIN.fullmatch(spelling) and len(spelling) >= 2:
                    out.add(spelling)
    return out



def _common_english() -> set[str]:
    """Common English words ("protection", "banana"): never an unlisted surname, nor a Japanese-shaped given name.
    Word frequencies from wordfreq (its data: CC BY-SA 4.0); Zipf 3.0 and up is about one use in a million
    words; the Japanese given names it knows stay below ("Kenji", 2.8) or are listed given names ("Akira")."""
    from wordfreq import top_n_list, zipf_frequency

    return {w for w in top_n_list("en", 80000) if len(w) >= 3 and w.isascii() and w.isalpha()
            and zipf_frequency(w, "en") >= 3.0}


def main() -> None:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    leading: set[str] = set(_KOREAN.split())
    japanese: set[str] = set()  # surnames: a Japanese-shaped given name beside one is a name ("Haruto Sato")
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"faker.providers.person.{module.name}"), "Provider", None)
        if provider is None:
            continue
        for attr in dir(provider):
            if "name" not in attr or attr.startswith("_") or callable(getattr(provider, attr)):
                continue
            found = words(getattr(provider, attr))
            if attr.startswith("first_"):
                first |= found
            elif attr.startswith("last_"):
                last |= found
                if module.name in ("zh_CN", "zh_TW", "vi_VN") and (module.name == "vi_VN" or "romanized" in attr):
                    leading |= found
                if module.name == "ja_JP" and "romanized" in attr:
                    japanese |= found
    leading -= _ENGLISH
    # Everyday English words are no names on their own ("Too Many Requests"): Faker's own English word list and
    # spaCy's stop words (both build-time only).
    from faker.providers.lorem.en_US import Provider as EnglishWords
    from spacy.lang.en.stop_words import STOP_WORDS

    english = {w.lower() for w in EnglishWords.word_list} | {w.lower() for w in STOP_WORDS}
    first -= english
    last -= english
    lines = ["# Generated by scripts/build_name_lists.py from Faker's person providers (MIT) and, for the w lines, "
             "wordfreq's English frequencies (CC BY-SA 4.0); do not edit."]
    lines += [f"f {w}" for w in sorted(first)] + [f"l {w}" for w in sorted(last)] + [f"e {w}" for w in sorted(leading)]
    lines += [f"j {w}" for w in sorted(japanese - english)]
    lines += [f"w {w}" for w in sorted(_common_english() - first - english)]
    # and the English words themselves: an unlisted word before a surname ("When True") is no given name
    lines += [f"x {w}" for w in sorted(english | {"true", "false", "yes", "no", "null", "none"}) if _LATIN.fullmatch(w)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(first)} given names, {len(last)} surnames, {len(leading)} leading surnames, "
          f"{len(japanese)} Japanese surnames")


if __name__ == "__main__":
    main()
