"""``/account``: sign in, change your password (a one-time one must be changed first),
set up the second factor (QR code, recovery codes) and, for admins, manage accounts and
devices. Everything goes through the JSON API of ``hall.auth.routes``; the page holds no
secret itself (the session is the HttpOnly cookie)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from displays.pages import page_data, render


async def account_page(request: Request) -> Response:
    return render(request, "account.html", data=page_data({}))


routes = [Route("/account", account_page, name="account")]
