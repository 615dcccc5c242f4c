"""The operator console (/console) of a real `dialog serve`: its token, escaping, ratings over HTTP,
and a real headless Chromium (Debian's, driven by Playwright) reading a conversation and rating it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from dialog.channels.console.auth import COOKIE, ConsoleAuth
from dialog.channels.console.routes import OFF
from dialog.channels.logs import secret_values
from dialog.feedback.log import TurnLog
from dialog.runtime.services import Services
from dialog.state.store import StateStore
from dialog_core.settings import Settings
from tests.conftest import ServeProcess

TOKEN = "console-token-4b1d"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def console(chat_home: Path) -> Iterator[ServeProcess]:
    """A server with a core chat index and ranker: its chit-chat turns log ranked candidates."""
    env = {
        "DIALOG_HOME": str(chat_home),
        "DIALOG_CHAT_GENERATOR_ENABLED": "false",
        "DIALOG_CONSOLE_TOKEN": TOKEN,
    }
    server = ServeProcess(env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def turn_log(chat_home: Path) -> Iterator[TurnLog]:
    """The turn log in the server's data dir, read directly (not through the console)."""
    settings = Settings(home=chat_home)
    services = Services.connect(settings)
    yield TurnLog(StateStore(services.redis, settings), settings.feedback_max_turns)
    services.close()


def chat(server: ServeProcess, user: str, text: str) -> dict[str, str]:
    response = httpx.post(f"{server.url}/v1/chat", json={"user_id": user, "text": text}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def user_page(server: ServeProcess, user: str) -> str:
    return f"{server.url}/console/users/{quote(user, safe='')}"


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_the_console_is_off_without_a_token(serve) -> None:
    server = serve()
    for path in ("/console", "/console/users", "/console/login"):
        response = httpx.get(f"{server.url}{path}", headers=BEARER)
        assert response.status_code == 404
        assert OFF in response.text


def test_the_console_needs_its_token(console: ServeProcess) -> None:
    url = f"{console.url}/console"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert 'action="/console/login"' in missing.text and TOKEN not in missing.text
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, cookies={COOKIE: "9999999999.forged"}).status_code == 401
    assert httpx.get(url, headers=BEARER).status_code == 200

    refused = httpx.post(f"{url}/login", data={"token": "wrong", "next": "/console/users"})
    assert refused.status_code == 401 and "not the one configured" in refused.text
    login = httpx.post(f"{url}/login", data={"token": TOKEN, "next": "https://elsewhere.example/"})
    assert login.status_code == 303 and login.headers["location"] == "/console"  # never off the console
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert httpx.get(url, cookies={COOKIE: login.cookies[COOKIE]}).status_code == 200


def test_the_console_token_falls_back_to_the_api_token_and_is_masked_in_logs() -> None:
    assert ConsoleAuth(Settings(api_token="api-secret")).valid_token("api-secret")
    both = Settings(api_token="api-secret", console_token="console-secret")
    assert ConsoleAuth(both).valid_token("console-secret") and not ConsoleAuth(both).valid_token("api-secret")
    assert not ConsoleAuth(Settings()).on
    assert "console-secret" in secret_values(both)


def test_what_users_wrote_is_shown_escaped(console: ServeProcess, user_id: str) -> None:
    odd_user = f"{user_id}/<b>张三"  # one user: the id is one percent-encoded path segment
    chat(console, odd_user, "<script>alert(1)</script>")
    page = httpx.get(user_page(console, odd_user), headers=BEARER)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and f"{user_id}/&lt;b&gt;张三" in page.text
    assert "<script>" not in page.text and "<b>张三" not in page.text
    listed = httpx.get(f"{console.url}/console/users", headers=BEARER).text
    assert f'href="/console/users/{quote(odd_user, safe="")}"' in listed
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script


def test_a_bad_operator_rating_is_refused_in_one_sentence(
    console: ServeProcess, turn_log: TurnLog, user_id: str
) -> None:
    turn_id = chat(console, user_id, "hello")["turn_id"]
    rate = f"{user_page(console, user_id)}/turns/{turn_id}/rate"
    seven = httpx.post(rate, data={"rating": "7"}, headers=BEARER)
    assert seven.status_code == 422 and "A rating is +1 (good) or -1 (bad)." in seven.text
    unknown = httpx.post(rate.replace(turn_id, "no-such-turn"), data={"rating": "1"}, headers=BEARER)
    assert unknown.status_code == 404 and "There is no such turn" in unknown.text
    assert httpx.post(rate, data={"rating": "1"}).status_code == 401
    entry = turn_log.get(user_id, turn_id)
    assert entry is not None and entry.rating is None


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed.")
def test_an_operator_reads_and_rates_a_conversation_in_a_real_browser(
    console: ServeProcess, turn_log: TurnLog, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    user = f"browser-{uuid.uuid4().hex[:8]}"
    for text in ("hello", "what is your favourite colour?", "你好"):
        chat(console, user, text)
    chinese = chat(console, user, "你最喜欢什么颜色？")
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese["reply"]), chinese
    logged = turn_log.get(user, chinese["turn_id"])
    assert httpx.post(f"{console.url}/v1/users/{user}/reset").status_code == 200  # a finished session: CPS
    assert logged is not None and logged.candidates and logged.chosen is not None, logged

    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(90_000)  # the first charts load matplotlib on a busy machine

        def shot(name: str) -> None:
            shots.append(tmp_path / f"{name}.png")
            page.screenshot(path=shots[-1], full_page=True)

        response = page.goto(f"{console.url}/console")
        assert response is not None and response.status == 401
        shot("login")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")

        expect(page.locator("h1")).to_have_text("Overview")
        assert page.locator("figure.chart > svg").count() == 6
        shot("overview")

        page.click("nav >> text=Users")
        expect(page.locator("h1")).to_have_text("Users")
        shot("users")
        page.click(f"a[href='/console/users/{user}']")
        turn = page.locator(f"#turn-{chinese['turn_id']}")
        expect(turn.locator(".said.bot .text")).to_have_text(chinese["reply"])
        expect(turn.locator(".said.user .text")).to_have_text("你最喜欢什么颜色？")
        turn.locator("details.why > summary").click()  # the /why trace: what the ranker saw
        candidates = turn.locator("table.candidates tbody tr")
        expect(candidates).to_have_count(len(logged.candidates))
        expect(turn.locator("tr.chosen")).to_contain_text(chinese["reply"])
        expect(turn.locator("tr.chosen td").nth(3)).to_have_text(
            f"{logged.candidates[logged.chosen].rank_score:.3f}"
        )
        shot("user")

        turn.locator("input[name=comment]").fill("自然 and friendly")
        turn.locator("button.good").click()
        expect(page.locator(f"#turn-{chinese['turn_id']} .rating.good")).to_contain_text(
            "approved for the corpus"
        )
        shot("rated")
        browser.close()

    entry = turn_log.get(user, chinese["turn_id"])
    assert entry is not None
    assert (entry.rating, entry.rated_by, entry.comment) == (1, "operator", "自然 and friendly")
    for path in shots:
        png = path.read_bytes()
        assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000, path
        print(f"console screenshot: {path}")
