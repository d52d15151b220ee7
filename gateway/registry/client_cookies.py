"""The upstream client's cookies, read only from answers that set some.

httpx hands every response to its cookie jar: it wraps the request and the response in
urllib's types (parsing the URL again) and has the jar look for ``Set-Cookie``, a few
percent of a cold detail row's CPU (two upstream answers per image, bench/bench_scale.py
under a sampling profiler). A registry sets none; a token server or a proxy in front
might, and those are still kept exactly as httpx keeps them.
"""

from __future__ import annotations

import httpx


class SetCookiesOnly(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def keep_cookies_lean(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client`` with its (empty) jar read only from answers that set cookies. httpx
    copies a jar passed to it into a plain one, so the client's own is replaced; left
    as it is if httpx changed shape."""
    jar = getattr(client, "_cookies", None)
    if type(jar) is httpx.Cookies and not jar:
        client._cookies = SetCookiesOnly()
    return client
