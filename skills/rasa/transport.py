"""Where rasa_sdk actions run: in this process (rasa_sdk's ActionExecutor) or on an action server
(`python -m rasa_sdk --actions ...`, HTTP webhook). Both take the same action-call payload and
return the same `{"events": [...], "responses": [...]}`, or None when the action rejected the call.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import httpx

from dialog_core.settings import mask_url
from skills.api import SkillError, SkillTimeout, SkillUnavailable

log = logging.getLogger(__name__)


class ActionRunner(Protocol):
    where: str

    async def run(self, payload: dict[str, Any]) -> dict[str, Any] | None: ...

    def knows(self, action: str) -> bool | None:
        """Whether the action exists (None: cannot tell without calling it)."""
        ...

    def health(self) -> str | None: ...


class InProcessActions:
    """rasa_sdk Action classes (or instances, modules, module names, .py paths) run in this process."""

    def __init__(self, *sources: Any) -> None:
        from rasa_sdk.executor import ActionExecutor

        self.executor = ActionExecutor()
        self.where = "in-process"
        for source in sources:
            for action in _actions_in(source):
                self.executor.register_action(action)
        if not self.executor.actions:
            raise SkillError("No rasa_sdk actions were found to register.")

    def knows(self, action: str) -> bool | None:
        return action in self.executor.actions

    def health(self) -> str | None:
        return None

    async def run(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

        try:
            result = await self.executor.run(payload)
        except ActionExecutionRejection as rejected:
            log.info("action %s rejected the call: %s", payload.get("next_action"), rejected)
            return None
        except ActionNotFoundException as error:
            raise SkillError(f"No rasa action named '{payload.get('next_action')}' is registered.") from error
        return result.model_dump() if result else {"events": [], "responses": []}


def _actions_in(source: Any) -> list[Any]:
    """Action subclasses/instances from a class, an instance, a module (and its submodules), a
    module name, or a path to a .py file or package directory."""
    from rasa_sdk import Action

    if isinstance(source, Action) or (inspect.isclass(source) and issubclass(source, Action)):
        return [source]
    if isinstance(source, Path) or (isinstance(source, str) and source.endswith(".py")):
        from skills.discovery import import_path

        source = import_path(Path(source))
    elif isinstance(source, str):
        source = importlib.import_module(source)
    if not isinstance(source, ModuleType):
        raise SkillError(f"{source!r} is not a rasa_sdk action, module or path.")
    modules = [source]
    if hasattr(source, "__path__"):
        modules += [
            importlib.import_module(info.name)
            for info in pkgutil.walk_packages(source.__path__, f"{source.__name__}.")
        ]
    return [
        cls
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Action)
        and cls.__module__ == module.__name__
        and not inspect.isabstract(cls)
    ]


class ActionServer:
    """A Rasa action server's webhook (`http://host:5055/webhook`)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.where = mask_url(self.url)
        self.timeout_s = timeout_s
        self._missing: set[str] = set()

    def knows(self, action: str) -> bool | None:
        return False if action in self._missing else None

    def health(self) -> str | None:
        base = self.url.removesuffix("/webhook")
        try:
            response = httpx.get(f"{base}/health", timeout=min(self.timeout_s, 2.0))
        except httpx.HTTPError:
            return f"The Rasa action server at {self.where} is not reachable."
        return (
            None if response.status_code == 200 else f"The Rasa action server at {self.where} is unhealthy."
        )

    async def run(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        action = payload.get("next_action")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self.url, json=payload)
        except httpx.TimeoutException as error:
            raise SkillTimeout(
                f"The Rasa action server at {self.where} did not answer within {self.timeout_s:g} s."
            ) from error
        except httpx.TransportError as error:
            raise SkillUnavailable(f"The Rasa action server at {self.where} is not reachable.") from error
        body = _json(response)
        if response.status_code == 200:
            return body if isinstance(body, dict) else {"events": [], "responses": []}
        if response.status_code == 400:  # ActionExecutionRejection
            log.info("action %s rejected the call: %s", action, body)
            return None
        if response.status_code == 404:
            self._missing.add(str(action))
            raise SkillError(f"The Rasa action server at {self.where} has no action named '{action}'.")
        detail = body.get("error") if isinstance(body, dict) else response.text[:200]
        raise SkillError(
            f"Rasa action '{action}' failed on the action server ({response.status_code}): {detail}"
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
