"""Addresses as people write them, matched to an address layer.

Hotline reports say "Kaivokatu 2, Helsinki", "Unioninkatu 29 B" (staircase B),
"400 Broadway St" or "苏州市姑苏区平江街道干将东路123号". :func:`parse_address` splits such
text into street, house number, unit, postcode and city (Latin order either way round,
Chinese order 省/市/区/街道/路/号); :func:`match_addresses` finds each in the layer: the
house number must agree, the street may be misspelt (rapidfuzz, a maintained fuzzy
matcher), case and diacritics do not matter, and a given city or postcode that
contradicts a candidate rules it out. Each match comes with the address it matched and
its score (0-100).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Street names scoring below this (rapidfuzz WRatio, 0-100) are not the same street.
MIN_STREET_SCORE = 85.0

_CJK = re.compile(r"[\u4e00-\u9fff]")
_NUMBER = r"(\d+[a-zA-Z]?)"
# "Unioninkatu 29 B", "Kaivokatu 2", "Main St 12-3", "Hauptstr. 5a"
_STREET_FIRST = re.compile(
    rf"^(?P<street>.*?\D)\s*{_NUMBER}(?:\s*[-/ ]\s*(?P<unit>[A-Za-z]|\d+))?$"
)
# "400 Broadway St", "12B Baker Street"
_NUMBER_FIRST = re.compile(rf"^{_NUMBER}(?:\s*[-/]\s*(?P<unit>\w+))?\s+(?P<street>\D.*)$")
_POSTCODE = re.compile(r"^\d{4,6}$")
_CN = re.compile(
    r"^(?:(?P<province>[\u4e00-\u9fff]+?省))?"
    r"(?:(?P<city>[\u4e00-\u9fff]+?市))?"
    r"(?:(?P<district>[\u4e00-\u9fff]+?(?:区|县)))?"
    r"(?:(?P<subdistrict>[\u4e00-\u9fff]+?(?:街道|镇|乡)))?"
    r"(?P<street>[\u4e00-\u9fff\w]+?(?:大道|路|街|巷|弄|道))"
    r"(?P<number>\d+)号?"
    r"(?P<unit>.*)$"
)


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of an address as written (unit: staircase, building or flat)."""

    street: str
    housenumber: str
    unit: str = ""
    postcode: str = ""
    city: str = ""


def normalise(text: object) -> str:
    """Case-folded, without diacritics or punctuation, single-spaced."""
    text = unicodedata.normalize("NFKD", str(text or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^\w\u4e00-\u9fff]+", " ", text)
    return " ".join(text.split())


def parse_address(text: str) -> ParsedAddress | None:
    """Split an address into its parts; None when no house number can be found."""
    text = unicodedata.normalize("NFKC", str(text or "")).strip()
    if not text:
        return None
    if _CJK.search(text):
        m = _CN.match(re.sub(r"\s+", "", text))
        if m is None:
            return None
        return ParsedAddress(
            street=m["street"],
            housenumber=m["number"],
            unit=m["unit"].strip(),
            city=(m["city"] or "").removesuffix("市"),
        )
    parts = [p.strip() for p in text.split(",") if p.strip()]
    main, rest = None, []
    for i, part in enumerate(parts):
        if len(parts) > 1 and re.match(r"^\d{4,6}\s+\D+$", part):
            continue  # "00100 Helsinki": postcode and city
        for pattern in (_STREET_FIRST, _NUMBER_FIRST):
            m = pattern.match(part)
            if m and main is None and not _POSTCODE.match(part):
                main = m
                rest = parts[:i] + parts[i + 1 :]
                break
        if main is not None:
            break
    if main is None:
        return None
    postcode, city = "", []
    for part in rest:
        for word in part.split():
            if _POSTCODE.match(word) and not postcode:
                postcode = word
            else:
                city.append(word)
    number = main.group(1) if main.re is _NUMBER_FIRST else main.group(2)
    return ParsedAddress(
        street=main["street"].strip(" ."),
        housenumber=number,
        unit=(main["unit"] or "").strip(),
        postcode=postcode,
        city=" ".join(city),
    )


@dataclass(frozen=True)
class AddressMatch:
    """Where an address was found: the row of the layer, what it says, and how sure."""

    position: int
    matched: str
    score: float


def _number_key(value: object) -> str:
    return normalise(value).replace(" ", "")


def match_addresses(
    texts: pd.Series | list[str], addresses: pd.DataFrame, *, min_score: float = MIN_STREET_SCORE
) -> list[AddressMatch | None]:
    """Match each text to a row of ``addresses`` (street, housenumber, postcode, city).

    The house number must agree (a unit letter written apart, "29 B", also matches the
    layer's "29B" or plain "29"); the street is compared fuzzily; a given postcode or
    city that disagrees with a candidate's non-empty value excludes it. The score is the
    street similarity (100 for the same name), less 5 when only the plain number matched.
    """
    from rapidfuzz import fuzz, process

    streets = addresses["street"].map(normalise).to_numpy()
    numbers = addresses["housenumber"].map(_number_key).to_numpy()
    postcodes = (
        addresses["postcode"].map(normalise).to_numpy()
        if "postcode" in addresses
        else np.full(len(addresses), "")
    )
    cities = (
        addresses["city"].map(lambda c: normalise(c).removesuffix("市")).to_numpy()
        if "city" in addresses
        else np.full(len(addresses), "")
    )
    names = sorted(set(streets) - {""})
    out: list[AddressMatch | None] = []
    for text in texts:
        parsed = parse_address(text)
        if parsed is None or not names:
            out.append(None)
            continue
        found = process.extract(
            normalise(parsed.street),
            names,
            scorer=fuzz.WRatio,
            score_cutoff=min_score,
            limit=5,
        )
        best = None
        for name, score, _ in found:
            rows = np.flatnonzero(streets == name)
            number = _number_key(parsed.housenumber)
            full = number + _number_key(parsed.unit)
            for exact, penalty in ((full, 0.0), (number, 5.0)):
                cand = rows[numbers[rows] == exact]
                if parsed.postcode:
                    pc = normalise(parsed.postcode)
                    cand = cand[(postcodes[cand] == "") | (postcodes[cand] == pc)]
                if parsed.city:
                    c = normalise(parsed.city).removesuffix("市")
                    cand = cand[(cities[cand] == "") | (cities[cand] == c)]
                if len(cand):
                    s = float(score) - penalty
                    if best is None or s > best[1]:
                        best = (int(cand[0]), s)
                    break
        if best is None:
            out.append(None)
            continue
        row = addresses.iloc[best[0]]
        matched = f"{row['street']} {row['housenumber']}".strip()
        extra = " ".join(
            str(row[c]) for c in ("postcode", "city") if c in addresses and str(row[c] or "")
        )
        out.append(
            AddressMatch(best[0], matched + (f", {extra}" if extra else ""), round(best[1], 1))
        )
    return out
