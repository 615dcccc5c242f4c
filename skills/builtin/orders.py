"""AliMe-style order status: "where is my parcel?", "我的快递到哪了？".

A form that needs the order number (16 digits) or the phone number the order was placed with,
in either order or in the first message. Both are validated: the format first, then whether the
store knows it. The answer is the order's status in the user's language; a phone number with
several orders gets each of them. The store is a small sample (data/skills/orders.json); an
operator subclasses OrderStatusSkill and overrides `store` to use their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from dialog_core.settings import SHIPPED_DATA_DIR
from skills import Form, FormSlot, Found, InvalidSlot, Language, PatternKind, SlotInput, Turn, say

ORDERS_FILE = SHIPPED_DATA_DIR / "skills" / "orders.json"
ORDER_DIGITS = 16
_PHONE = r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"
_DIGIT_RUN = re.compile(r"(?<!\d)\d[\d -]{4,22}\d(?!\d)")

_STATUS = {
    "pending_payment": ("waiting for payment", "待付款"),
    "paid": ("paid, waiting to be shipped", "已付款，等待发货"),
    "shipped": ("on its way", "运输中"),
    "out_for_delivery": ("out for delivery today", "正在派送"),
    "delivered": ("delivered", "已签收"),
    "cancelled": ("cancelled", "已取消"),
    "refunded": ("cancelled and refunded", "已退款"),
}


@dataclass(frozen=True)
class OrderStore:
    """Orders by id and by phone, from a JSON file of {"orders": [...]}."""

    path: Path = ORDERS_FILE

    @cached_property
    def orders(self) -> dict[str, dict[str, Any]]:
        with open(self.path, encoding="utf-8") as handle:
            return {order["id"]: order for order in json.load(handle)["orders"]}

    def get(self, order_id: str) -> dict[str, Any] | None:
        return self.orders.get(order_id)

    def by_phone(self, phone: str) -> list[dict[str, Any]]:
        return [order for order in self.orders.values() if order.get("phone") == phone]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone(text: str) -> str:
    digits = _digits(text)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


class OrderNumberKind(PatternKind):
    """A 16-digit order number; when asked for it, any long digit run (so a typo can be refused)."""

    def __init__(self) -> None:
        super().__init__(rf"(?<!\d)\d{{{ORDER_DIGITS}}}(?!\d)", _digits)

    def extract(self, given: SlotInput) -> list[Found]:
        found = super().extract(given)
        if found or not given.requested:
            return found
        return [
            Found(_digits(m.group()), m.start(), m.end())
            for m in _DIGIT_RUN.finditer(given.text)
            if not re.fullmatch(_PHONE, m.group().strip())
        ]


class OrderStatusSkill(Form):
    name = "order_status"
    description = "Order and parcel status by order number or phone number (AliMe-style form)."
    title = ("your order status request", "查询订单")
    triggers: ClassVar[list[str]] = [
        r"\bwhere(?:'s|\s+is|\s+are)\s+(?:my\s+)?(?:parcel|package|order|delivery|shipment|stuff)s?\b",
        r"\b(?:status\s+of\s+)?(?:my\s+)?order\s+(?:number\s+|no\.?\s*|#\s*)?\d{6,}",
        r"\b(?:order|parcel|package|delivery|shipping)\s+status\b",
        r"\btrack(?:ing)?\s+(?:my\s+|an?\s+)?(?:order|parcel|package|delivery)\b",
        r"\bcheck\s+(?:on\s+)?(?:my\s+)?(?:order|parcel|package)\b",
        r"\b(?:has|did)\s+my\s+(?:order|parcel|package)\s+(?:ship|shipped|arrive|arrived|come)\b",
        r"(?:快递|包裹|订单|物流|货)(?:现在)?(?:到哪|在哪|到了吗|到没到|什么时候到|怎么还没到|发货了吗|发了吗|状态|进度|信息)",
        r"查(?:一下|询|查|下)?(?:我的)?(?:订单|快递|物流|包裹)",
    ]
    slots: ClassVar[list[FormSlot]] = [
        FormSlot("order_id", kind=OrderNumberKind(),
                 prompt=("Please tell me your order number (16 digits) or the phone number you ordered with.",
                         "请告诉我订单号（16位数字）或下单时用的手机号。"),
                 label=("order number", "订单号"), required=False),
        FormSlot("phone", kind=PatternKind(_PHONE, _phone), prompt=("Your phone number?", "你的手机号是？"),
                 label=("phone", "手机号"), required=False),
    ]  # fmt: skip
    intents: ClassVar[dict[str, list[str]]] = {
        "order_status.check": [
            "where is my parcel", "where's my package", "check my order status", "track my order",
            "has my order shipped yet", "what's the status of my order 2025031410300001",
            "我的快递到哪了", "查一下我的订单", "包裹什么时候到",
            "订单发货了吗", "帮我查物流", "我的货到了吗",
        ],
    }  # fmt: skip

    @cached_property
    def store(self) -> OrderStore:
        return OrderStore()

    def missing_slots(self, values: dict[str, Any]) -> list[str]:
        return [] if values.get("order_id") or values.get("phone") else ["order_id"]

    def validate_order_id(self, value: str, turn: Turn) -> str:
        if len(value) != ORDER_DIGITS:
            raise InvalidSlot(
                f"An order number has {ORDER_DIGITS} digits; {value} has {len(value)}. Please check it.",
                f"订单号是{ORDER_DIGITS}位数字，{value}有{len(value)}位，请核对一下。",
            )
        if self.store.get(value) is None:
            raise InvalidSlot(
                f"I can't find an order numbered {value}. Please check the number.",
                f"没有找到订单号为{value}的订单，请核对一下。",
            )
        return value

    def validate_phone(self, value: str, turn: Turn) -> str:
        if not self.store.by_phone(value):
            raise InvalidSlot(
                f"I found no orders for the phone number {_masked(value)}.",
                f"手机号{_masked(value)}下没有找到订单。",
            )
        return value

    def submit(self, turn: Turn, values: dict[str, Any]) -> str:
        language = turn.nlu.language
        if values.get("order_id"):
            return describe_order(self.store.get(values["order_id"]) or {}, language)
        orders = self.store.by_phone(values["phone"])
        if len(orders) == 1:
            return describe_order(orders[0], language)
        head = say(language, "You have {n} orders:", "你有{n}个订单：", n=len(orders))
        return "\n".join([head, *(f"- {describe_order(order, language, short=True)}" for order in orders)])


def _masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else phone


def _text(value: Any, language: Language) -> str:
    return value.get(language) or value.get("en", "") if isinstance(value, dict) else str(value or "")


def describe_order(order: dict[str, Any], language: Language, short: bool = False) -> str:
    """The order's status in one or two sentences."""
    status = order.get("status", "")
    en, zh = _STATUS.get(status, (status, status))
    item = _text(order.get("items"), language)
    number = order.get("id", "")
    head = say(language, "Order {id} ({item}) is {status}", "订单{id}（{item}）{status}",
               id=number, item=item, status=en if language == "en" else zh)  # fmt: skip
    if short:
        return head + ("." if language == "en" else "。")
    details = []
    if status in ("shipped", "out_for_delivery"):
        details.append(
            say(language, "{carrier} {tracking}, last seen at {where} ({at})",
                "{carrier} {tracking}，最新位置：{where}（{at}）",
                carrier=_text(order.get("carrier"), language), tracking=order.get("tracking", ""),
                where=_text(order.get("location"), language), at=order.get("updated", ""))
        )  # fmt: skip
    if order.get("eta") and status in ("paid", "shipped", "out_for_delivery"):
        details.append(say(language, "expected on {eta}", "预计{eta}送达", eta=order["eta"]))
    if status == "delivered":
        details.append(
            say(language, "signed for by {who} on {at}", "{at}由{who}签收",
                who=_text(order.get("signed_by"), language), at=order.get("updated", ""))
        )  # fmt: skip
    if language == "zh":
        return head + ("：" + "，".join(details) if details else "") + "。"
    return head + (": " + "; ".join(details) if details else "") + "."
