"""Example rasa_sdk actions (the classic restaurant form bot), used by the rasa bridge's tests and
docs. Run them on an action server with `python -m rasa_sdk --actions actions` from this folder,
or in-process through `restaurant.rasa.yaml`."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, FollowupAction, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection
from rasa_sdk.types import DomainDict

CUISINES = {"italian", "chinese", "indian", "mexican", "意大利菜", "中餐", "川菜", "印度菜"}


def _is_zh(tracker: Tracker) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in tracker.latest_message.get("text", ""))


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="你好！" if _is_zh(tracker) else "Hello from Rasa!")
        return [FollowupAction("utter_offer_help")]


class ActionCountVisits(Action):
    def name(self) -> str:
        return "action_count_visits"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        visits = int(tracker.get_slot("visits") or 0) + 1
        dispatcher.utter_message(text=f"第{visits}次。" if _is_zh(tracker) else f"Visit number {visits}.")
        return [SlotSet("visits", visits)]


class ActionCheckIn(Action):
    """Hands over to another custom action with FollowupAction."""

    def name(self) -> str:
        return "action_check_in"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="签到。" if _is_zh(tracker) else "Checking in.")
        return [FollowupAction("action_count_visits")]


class ActionLetsEat(Action):
    """Starts the restaurant form itself, with ActiveLoop."""

    def name(self) -> str:
        return "action_lets_eat"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="好主意！" if _is_zh(tracker) else "Good idea!")
        return [ActiveLoop("restaurant_form")]


class ActionForgetEverything(Action):
    def name(self) -> str:
        return "action_forget_everything"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_forgotten")
        return [AllSlotsReset(), Restarted()]


class ActionFussy(Action):
    """Refuses to run (rasa's ActionExecutionRejection): the turn goes to the next route."""

    def name(self) -> str:
        return "action_fussy"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        raise ActionExecutionRejection(self.name(), "not today")


class ActionSlow(Action):
    def name(self) -> str:
        return "action_slow"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await asyncio.sleep(30)  # async: the action server keeps serving other calls meanwhile
        return []


class ValidateRestaurantForm(FormValidationAction):
    def name(self) -> str:
        return "validate_restaurant_form"

    def validate_cuisine(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if str(value).lower() in CUISINES:
            return {"cuisine": str(value).lower()}
        dispatcher.utter_message(response="utter_wrong_cuisine")
        return {"cuisine": None}

    def validate_num_people(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            people = int(str(value).strip())
        except ValueError:
            people = 0
        if 1 <= people <= 12:
            return {"num_people": people}
        dispatcher.utter_message(response="utter_wrong_num_people")
        return {"num_people": None}


class ActionSubmitRestaurant(Action):
    def name(self) -> str:
        return "action_submit_restaurant"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_submit")
        return [AllSlotsReset(), SlotSet("booked", True)]
