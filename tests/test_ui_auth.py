"""The reference UI in chromium against a registry that needs a login: 401 → the form
(and back to where the user was), wrong passwords, logout, an ended session; and no
login control where the registry needs none."""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import expect

from gateway.sessions import COOKIE_NAME
from tests.support.ui import AUTH_USERS, XHR, UiPage, UiSite


def log_in(ui: UiPage, user: str = "alice", password: str | None = None) -> None:
    ui.page.get_by_label("Username").fill(user)
    ui.page.get_by_label("Password").fill(AUTH_USERS[user] if password is None else password)
    ui.page.get_by_role("button", name="Log in").click()


def login_url(site: UiSite, next_path: str) -> str:
    return f"{site.url}/login?next={quote(next_path, safe='')}"


def test_401_leads_to_the_form_and_back(ui: UiPage, ui_auth_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/team/app", ui_auth_site)
    expect(page).to_have_url(login_url(ui_auth_site, "/r/team/app"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_text("This registry needs you to log in.")).to_be_visible()
    # labelled inputs with the password manager's hints; the username has the focus
    username = page.get_by_label("Username")
    expect(username).to_have_attribute("autocomplete", "username")
    expect(username).to_be_focused()
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")

    log_in(ui)
    expect(page).to_have_url(f"{ui_auth_site.url}/r/team/app")
    expect(page.get_by_test_id("tags").locator("tbody tr td:first-child")).to_have_text(
        ["1.0", "1.1"]
    )
    expect(page.get_by_test_id("user-name")).to_have_text("Logged in as alice")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # the session is server-side: the cookie is HttpOnly, scoped to the API
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] is True
    assert cookie["path"] == "/"
    assert page.evaluate("document.cookie") == ""
    # and it lasts: a reload still shows the user and the data
    page.reload()
    expect(page.get_by_test_id("user-name")).to_have_text("Logged in as alice")
    expect(page.get_by_test_id("tags").locator("tbody tr")).to_have_count(2)


def test_wrong_password_stays_on_the_form(ui: UiPage, ui_auth_site: UiSite) -> None:
    page = ui.page
    ui.goto("/login", ui_auth_site)
    log_in(ui, password="not-the-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Login failed")
    expect(alert).to_contain_text("the registry rejected these credentials")
    expect(alert).to_contain_text("UNAUTHORIZED")
    expect(page).to_have_url(f"{ui_auth_site.url}/login")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    # then the right one: to the repositories (no ?next=)
    log_in(ui)
    expect(page).to_have_url(f"{ui_auth_site.url}/")
    expect(page.get_by_role("link", name="team/app")).to_be_visible()


def test_logout(ui: UiPage, ui_auth_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/team/app/-/image/1.0", ui_auth_site)
    log_in(ui)
    expect(page.get_by_role("heading", level=1)).to_have_text("team/app:1.0")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    assert [c for c in page.context.cookies() if c["name"] == COOKIE_NAME] == []
    session = page.evaluate("fetch('/api/session').then(r => r.json())")
    assert session["authenticated"] is False
    # logging in again returns to the image
    log_in(ui)
    expect(page).to_have_url(f"{ui_auth_site.url}/r/team/app/-/image/1.0")
    expect(page.get_by_test_id("user-name")).to_have_text("Logged in as alice")


def test_an_ended_session_shows_the_form_with_a_message(ui: UiPage, ui_auth_site: UiSite) -> None:
    page = ui.page
    ui.goto("/login?next=/r/team/app", ui_auth_site)
    log_in(ui)
    expect(page.get_by_test_id("tags").locator("tbody tr")).to_have_count(2)

    # the session ends elsewhere (another tab logged out, the idle timeout, a restart)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    ended = ui_auth_site.api(
        "/api/session",
        method="DELETE",
        headers={**XHR, "Cookie": f"{COOKIE_NAME}={cookie['value']}"},
    )
    assert ended.status_code == 204

    # the next data call answers 401 {"session": "expired"}: the form, never a blank page
    page.get_by_role("link", name="1.1", exact=True).click()
    expect(page).to_have_url(login_url(ui_auth_site, "/r/team/app/-/image/1.1"))
    expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended. Log in again to continue."
    )
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    log_in(ui)
    expect(page).to_have_url(f"{ui_auth_site.url}/r/team/app/-/image/1.1")
    expect(page.get_by_role("heading", level=1)).to_have_text("team/app:1.1")


def test_the_header_offers_a_login_when_the_registry_checks_credentials(
    ui: UiPage, ui_auth_site: UiSite
) -> None:
    page = ui.page
    ui.goto("/login", ui_auth_site)
    expect(page.locator("#pull-host")).to_contain_text(ui_auth_site.pull_host)
    # not on the login page itself; elsewhere the header has the control
    expect(page.get_by_role("navigation", name="Account").get_by_role("link")).to_have_count(0)
    page.evaluate(
        "history.pushState(null, '', '/no/such/page'); dispatchEvent(new PopStateEvent('popstate'))"
    )
    account = page.get_by_role("navigation", name="Account")
    account.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(login_url(ui_auth_site, "/no/such/page"))


def test_no_login_control_when_the_registry_needs_none(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/", ui_site)
    expect(page.get_by_role("link", name="many/repo-000")).to_be_visible()
    account = page.get_by_role("navigation", name="Account")
    expect(account.get_by_role("link")).to_have_count(0)
    expect(account.get_by_role("button")).to_have_count(0)
    expect(page.get_by_text("Log in", exact=True)).to_have_count(0)
    ui.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("No login needed")


def test_login_returns_only_to_paths_of_this_ui(ui: UiPage, ui_auth_site: UiSite) -> None:
    """``?next=`` is resolved by the browser's own URL parser: no spelling of another
    origin survives, so the login cannot be turned into an open redirect."""
    ui.goto("/login", ui_auth_site)
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Log in")
    cases = {
        "//evil.example/x": "/",
        "/\\evil.example/x": "/",
        "/\t/evil.example/x": "/",
        "/\\/evil.example": "/",
        "https://evil.example/": "/",
        "javascript:alert(1)": "/",
        "/login?next=/r/x": "/",
        "/r/team/app?sort=-version#top": "/r/team/app?sort=-version#top",
        "/r/team/app/-/image/1.0": "/r/team/app/-/image/1.0",
    }
    got = ui.page.evaluate(
        """async (cases) => {
            const {safeNext} = await import('/assets/views/login.js');
            return Object.fromEntries(Object.keys(cases).map((c) => [c, safeNext(c)]));
        }""",
        cases,
    )
    assert got == cases
