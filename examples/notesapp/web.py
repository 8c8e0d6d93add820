"""A FastAPI app over UserService.

``create_app(service)`` builds the app around a given service, so tests can pass one whose
notifier is a mock; the module-level ``app`` is what a server would run
(``uvicorn notesapp.web:app``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from notesapp.users import DuplicateEmailError, EventBus, User, UserService, UserStore


class UserIn(BaseModel):
    email: str
    name: str


class UserOut(BaseModel):
    id: int
    email: str
    name: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name)


class RegistrationOut(BaseModel):
    user: UserOut
    welcome_sent: bool


def get_service(request: Request) -> UserService:
    service: UserService = request.app.state.service
    return service


Service = Annotated[UserService, Depends(get_service)]


def create_app(service: UserService) -> FastAPI:
    app = FastAPI(title="notesapp")
    app.state.service = service

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/users")
    async def list_users(service: Service) -> list[UserOut]:
        return [UserOut.of(user) for user in await service.list_users()]

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, service: Service) -> UserOut:
        user = await service.get_user(user_id)
        if user is None:
            raise HTTPException(status_code=404, detail=f"user {user_id} not found")
        return UserOut.of(user)

    @app.post("/users", status_code=201)
    async def register(body: UserIn, service: Service) -> RegistrationOut:
        try:
            registration = await service.register(email=body.email, name=body.name)
        except DuplicateEmailError:
            raise HTTPException(status_code=409, detail="e-mail already registered") from None
        return RegistrationOut(
            user=UserOut.of(registration.user), welcome_sent=registration.welcome_sent
        )

    return app


class _ConsoleNotifier:
    """Default notifier for running the app locally: prints instead of sending mail."""

    async def send_email(self, to: str, subject: str, body: str) -> None:
        print(f"mail to {to}: {subject} / {body}")


app = create_app(UserService(UserStore(), _ConsoleNotifier(), EventBus()))
