"""Accounts and tokens: password login for a token, organisers create users and worker tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from maikit.server.api.deps import client_address, organiser, state, user
from maikit.server.api.schemas import RoleChange, TokenPublic, TokenRequest, UserCreate, UserCreated, UserPublic, WorkerTokenCreate
from maikit.server.db.models import User
from maikit.server.services import users

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/token", response_model=TokenPublic,
             responses={429: {"description": "too many sign-in attempts for the name or from the address (Retry-After)"}})
async def login(body: TokenRequest, request: Request, st=Depends(state)) -> TokenPublic:
    """A new API token for a user name and password."""
    return TokenPublic(token=await users.login(st, body.username, body.password, client_address(request)))


@router.get("/me", response_model=UserPublic)
def me(u: User = Depends(user), st=Depends(state)) -> UserPublic:
    return UserPublic(id=u.id, username=u.username, role=u.role, team=users.team_name(st, u))


@router.post("/users", response_model=UserCreated, status_code=201)
def add_user(body: UserCreate, _: User = Depends(organiser), st=Depends(state)) -> UserCreated:
    u, token = users.add_user(st, username=body.username, role=body.role, password=body.password, team=body.team)
    return UserCreated(id=u.id, username=u.username, role=u.role, team=body.team, token=token)


@router.patch("/users/{username}", response_model=UserPublic)
def change_role(username: str, body: RoleChange, _: User = Depends(organiser), st=Depends(state)) -> UserPublic:
    """Change a user's role (organisers); the user's web sessions end."""
    u = users.set_role(st, username, body.role)
    return UserPublic(id=u.id, username=u.username, role=u.role, team=u.team.name if u.team else None)


@router.post("/worker-tokens", response_model=TokenPublic, status_code=201)
def add_worker_token(body: WorkerTokenCreate, _: User = Depends(organiser), st=Depends(state)) -> TokenPublic:
    return TokenPublic(token=users.add_worker_token(st, body.device_tag, body.label))
