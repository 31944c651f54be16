"""What the browser sees when a page cannot be built: sign-in, a service's refusal, a
service that does not answer, or the console's own HTTP errors, as pages."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from services.console.adapters.client import ApiError, Unreachable
from services.console.api.deps import SignInRequired
from services.console.api.web import render
from services.console.domain.navigation import login_url


async def sign_in(request: Request, exc: SignInRequired) -> Response:
    return RedirectResponse(login_url(exc.next_path), 303)


async def api_error(request: Request, exc: ApiError) -> Response:
    if exc.status == 401:
        # The key was rotated or revoked elsewhere: sign in again.
        request.session.clear()
        return RedirectResponse(login_url(request.url.path), 303)
    status = exc.status if exc.status < 500 else 502
    return render(
        request,
        "error.html",
        status,
        title="Not found" if exc.status == 404 else "Something went wrong",
        message=f"{exc.service} said: {exc.message}",
    )


async def unreachable(request: Request, exc: Unreachable) -> Response:
    return render(
        request,
        "error.html",
        503,
        title="A LeadFlow service is not answering",
        message=f"The {exc.service} service does not answer at {exc.url}. "
        "Is it running (make run)?",
    )


async def http_error(request: Request, exc: HTTPException) -> Response:
    return render(request, "error.html", exc.status_code, title="Sorry", message=str(exc.detail))


def install(app: FastAPI) -> None:
    app.exception_handler(SignInRequired)(sign_in)
    app.exception_handler(ApiError)(api_error)
    app.exception_handler(Unreachable)(unreachable)
    app.exception_handler(HTTPException)(http_error)
