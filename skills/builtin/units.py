"""Unit conversion with pint: "convert 5 km to miles", "how many feet in 3 meters",
"100 fahrenheit in celsius", "5公里是多少英里", "把30摄氏度换算成华氏度"."""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any, ClassVar

from skills import Language, Skill, SkillContext, SkillResult, Turn, arabic_numbers, is_cjk, say
from skills.builtin.calculator import show_number

# Chinese unit names -> pint units (pint itself reads the English names, plurals and symbols)
_ZH_UNITS = {
    "公里": "kilometer", "千米": "kilometer", "米": "meter", "厘米": "centimeter", "公分": "centimeter",
    "毫米": "millimeter", "英里": "mile", "海里": "nautical_mile", "码": "yard", "英尺": "foot", "尺": "foot",
    "英寸": "inch", "寸": "inch", "公斤": "kilogram", "千克": "kilogram", "克": "gram", "毫克": "milligram",
    "斤": "jin", "两": "liang", "吨": "metric_ton", "磅": "pound", "盎司": "ounce", "升": "liter",
    "毫升": "milliliter", "加仑": "gallon", "品脱": "pint", "摄氏度": "degC", "华氏度": "degF",
    "开尔文": "kelvin", "小时": "hour", "分钟": "minute", "秒": "second", "天": "day", "周": "week",
    "平方米": "meter**2", "平方公里": "kilometer**2", "平方英尺": "foot**2", "公顷": "hectare", "亩": "mu",
    "英亩": "acre", "公里每小时": "kilometer/hour", "千米每小时": "kilometer/hour", "英里每小时": "mile/hour",
    "千瓦时": "kilowatt_hour", "度": "kilowatt_hour", "千卡": "kilocalorie", "卡路里": "calorie",
    "焦耳": "joule", "字节": "byte", "千字节": "kilobyte", "兆字节": "megabyte", "吉字节": "gigabyte",
}  # fmt: skip
_EN_ALIASES = {
    "celsius": "degC", "centigrade": "degC", "°c": "degC", "c": "degC", "degrees celsius": "degC",
    "fahrenheit": "degF", "°f": "degF", "f": "degF", "degrees fahrenheit": "degF", "kph": "kilometer/hour",
    "km/h": "kilometer/hour", "mph": "mile/hour", "lbs": "pound", "lb": "pound", "kgs": "kilogram",
    "tonnes": "metric_ton", "tonne": "metric_ton", "kwh": "kilowatt_hour", "cal": "calorie",
}  # fmt: skip
_NUMBER = r"(?P<value>-?\d+(?:\.\d+)?)"
_UNIT_EN = r"[a-z°/][a-z°/ ]*?"
_EN_FORWARD = re.compile(
    rf"^(?:please\s+)?(?:convert\s+|what(?:'s|\s+is)\s+|how\s+much\s+is\s+|how\s+many\s+\w+\s+is\s+)?"
    rf"{_NUMBER}\s*(?P<source>{_UNIT_EN})\s+(?:to|in|into|as|in\s+terms\s+of)\s+(?P<target>{_UNIT_EN})\s*\??$",
    re.IGNORECASE,
)
_EN_BACKWARD = re.compile(
    rf"^how\s+many\s+(?P<target>{_UNIT_EN})\s+(?:are\s+(?:there\s+)?)?(?:in|is|are)\s+{_NUMBER}\s*"
    rf"(?P<source>{_UNIT_EN})\s*\??$",
    re.IGNORECASE,
)
_ZH_UNIT = "|".join(sorted(map(re.escape, _ZH_UNITS), key=len, reverse=True))
_ZH = re.compile(
    rf"^(?:请问|请|帮我)?(?:把|将)?{_NUMBER}\s*(?P<source>{_ZH_UNIT})"
    rf"(?:是|等于|合|换算成|换算为|转换成|转换为|换成|转成|折合|有)(?:多少|几)?(?:个)?(?P<target>{_ZH_UNIT})"
    rf"(?:是多少|多少|呢|吗)?[?？。]*$"
)
_registry_lock = threading.Lock()


@cache
def _registry() -> Any:
    with _registry_lock:
        import pint

        registry: pint.UnitRegistry[float] = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
        registry.define("jin = 0.5 * kilogram")
        registry.define("liang = 50 * gram")
        registry.define("mu = 666.6666667 * meter ** 2")
        return registry


def _unit(name: str) -> str:
    key = name.strip().lower()
    return _ZH_UNITS.get(key) or _EN_ALIASES.get(key) or key


def conversion_in(text: str, language: Language) -> tuple[float, str, str, str, str] | None:
    """(value, source unit, target unit, source as written, target as written), or None."""
    if is_cjk(text):
        match = _ZH.search(arabic_numbers(text).replace(" ", ""))
    else:
        match = _EN_FORWARD.search(text) or _EN_BACKWARD.search(text)
    if not match:
        return None
    source, target = match.group("source").strip(), match.group("target").strip()
    return float(match.group("value")), _unit(source), _unit(target), source, target


def convert(value: float, source: str, target: str) -> float:
    registry = _registry()
    return registry.Quantity(value, registry.Unit(source)).to(registry.Unit(target)).magnitude


class UnitConversionSkill(Skill):
    name = "units"
    description = "Unit conversion (length, mass, temperature, volume, area, speed, energy, data)."
    intents: ClassVar[dict[str, list[str]]] = {
        "units.convert": [
            "convert 5 km to miles", "how many feet in 3 meters", "100 fahrenheit in celsius",
            "what is 2 pounds in kilograms", "convert 1 gallon to liters", "how many ounces are in 2 pounds",
            "5公里是多少英里", "把30摄氏度换算成华氏度", "3英尺等于多少米", "2斤是多少公斤", "1加仑是多少升",
        ],
    }  # fmt: skip

    def setup(self, context: SkillContext) -> None:
        super().setup(context)
        # pint's registry takes up to a second to build: here, not in the first turn's can_handle,
        # whose time limit (skill_score_timeout_s, 1 s) it could pass on a busy machine
        _registry()

    def can_handle(self, turn: Turn) -> float:
        found = conversion_in(turn.nlu.normalized, turn.nlu.language)
        if found and _known(found[1]) and _known(found[2]):
            return 0.92
        return super().can_handle(turn)

    def handle(self, turn: Turn) -> SkillResult | None:
        language = turn.nlu.language
        found = conversion_in(turn.nlu.normalized, language)
        if found is None:
            return None
        value, source, target, source_text, target_text = found
        import pint

        try:
            result = convert(value, source, target)
        except pint.DimensionalityError:
            return SkillResult(
                say(language, "I can't convert {a} to {b}: they measure different things.",
                    "{a}和{b}不是同一类单位，没法换算。", a=source_text, b=target_text)
            )  # fmt: skip
        except (pint.UndefinedUnitError, ValueError, AttributeError):
            return SkillResult(
                say(language, "Sorry, I don't know the unit {a} or {b}.", "抱歉，我不认识单位“{a}”或“{b}”。",
                    a=source_text, b=target_text)
            )  # fmt: skip
        joiner = "" if language == "zh" else " "
        shown = show_number(round(result, 6) if abs(result) >= 1e-6 else result)
        return SkillResult(f"{show_number(value)}{joiner}{source_text} = {shown}{joiner}{target_text}")


def _known(unit: str) -> bool:
    try:
        _registry().Unit(unit)
    except Exception:
        return False
    return True
