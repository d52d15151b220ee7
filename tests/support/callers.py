"""Who a test's requests are sent as: the header a page's script adds, Basic credentials,
and the users of a test registry (each test world has its own table of them)."""

from __future__ import annotations

import base64

XHR = {"X-Requested-With": "XMLHttpRequest"}
#: A script's JSON request (a login, a retention rule set).
XHR_JSON = {**XHR, "Content-Type": "application/json"}


def basic_value(user: str, password: str) -> str:
    """An ``Authorization: Basic`` header's value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def basic(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of ``user`` with ``password``."""
    return {"Authorization": basic_value(user, password)}


class Users(dict[str, str]):
    """A test registry's users and their passwords."""

    def basic(self, user: str, password: str | None = None) -> dict[str, str]:
        """``user``'s Authorization header: with their own password unless another is
        given (an unknown user's is empty)."""
        return basic(user, self.get(user, "") if password is None else password)

    def login(self, user: str, password: str | None = None) -> dict[str, str]:
        """The body of ``POST /api/session`` for ``user``."""
        return {"username": user, "password": self.get(user, "") if password is None else password}
