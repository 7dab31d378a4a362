"""Optional bearer-token auth for every route, the dashboard's included.

A caller sends ``Authorization: Bearer TOKEN``. A browser cannot add a header to a page
it navigates to, so the dashboard's sign-in form stores the token in a cookie
(``HttpOnly``, ``SameSite=Strict``) that admits *reading* pages and data; every request
that changes something must carry the token in the header (the dashboard's script adds
it from the page's session storage), so a forged cross-site request, which can carry
the cookie but not the header, changes nothing. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

COOKIE = "durably_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenAuth:
    """The check of one server's token (``None``: no auth)."""

    def __init__(self, token: str | None) -> None:
        if token is not None and not token.strip():
            raise ValueError("the token must not be empty")
        self._token = token.encode() if token is not None else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def matches(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is the token (constant time in its contents)."""
        if self._token is None:
            return True
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    def __call__(self, request: Request) -> None:
        """The dependency every route has: 401 unless the request proves the token."""
        if self._token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.matches(value.strip()):
            return
        if request.method in SAFE_METHODS and self.matches(request.cookies.get(COOKIE)):
            return
        raise HTTPException(
            status_code=401,
            detail="missing or wrong token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
