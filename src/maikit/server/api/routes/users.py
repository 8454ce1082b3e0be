"""Accounts and tokens: password login for a token, organisers create users and worker tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select

from maikit.server.api.deps import organiser, state, user
from maikit.server.api.schemas import TokenPublic, TokenRequest, UserCreate, UserCreated, UserPublic, WorkerTokenCreate
from maikit.server.core.security import hash_password, hash_token, new_token, verify_password
from maikit.server.db.models import ApiToken, Team, User

router = APIRouter(prefix="/api", tags=["accounts"])


def issue_user_token(s, u: User, now, label: str = "") -> str:
    token = new_token("mai_u_")
    s.add(ApiToken(kind="user", user_id=u.id, token_hash=hash_token(token), label=label, created_at=now))
    return token


def issue_worker_token(s, device_tag: str, now, label: str = "") -> str:
    token = new_token("mai_w_")
    s.add(ApiToken(kind="worker", device_tag=device_tag, token_hash=hash_token(token), label=label, created_at=now))
    return token


def create_user(s, *, username: str, role: str, password: str | None, team: str | None, now) -> User:
    team_id = None
    if team:
        t = s.execute(select(Team).where(Team.name == team)).scalar_one_or_none()
        if t is None:
            t = Team(name=team, quota_lock=0)
            s.add(t)
            s.flush()
        team_id = t.id
    u = User(username=username, role=role, password_hash=hash_password(password) if password else None,
             team_id=team_id, quota_lock=0, created_at=now)
    s.add(u)
    s.flush()
    return u


@router.post("/auth/token", response_model=TokenPublic)
def login(body: TokenRequest, st=Depends(state)) -> TokenPublic:
    with st.db.write() as s, s.begin():
        u = s.execute(select(User).where(User.username == body.username)).scalar_one_or_none()
        if u is None or not verify_password(u.password_hash, body.password):
            raise HTTPException(401, "wrong user name or password")
        return TokenPublic(token=issue_user_token(s, u, st.now(), "login"))


@router.get("/me", response_model=UserPublic)
def me(u: User = Depends(user), st=Depends(state)) -> UserPublic:
    with st.db.read() as s:
        team = s.get(Team, u.team_id).name if u.team_id else None
    return UserPublic(id=u.id, username=u.username, role=u.role, team=team)


@router.post("/users", response_model=UserCreated, status_code=201)
def add_user(body: UserCreate, _: User = Depends(organiser), st=Depends(state)) -> UserCreated:
    with st.db.write() as s, s.begin():
        if s.execute(select(User).where(User.username == body.username)).scalar_one_or_none():
            raise HTTPException(409, f"user {body.username!r} exists")
        u = create_user(s, username=body.username, role=body.role, password=body.password, team=body.team, now=st.now())
        token = issue_user_token(s, u, st.now(), "created")
        return UserCreated(id=u.id, username=u.username, role=u.role, team=body.team, token=token)


@router.post("/worker-tokens", response_model=TokenPublic, status_code=201)
def add_worker_token(body: WorkerTokenCreate, _: User = Depends(organiser), st=Depends(state)) -> TokenPublic:
    with st.db.write() as s, s.begin():
        return TokenPublic(token=issue_worker_token(s, body.device_tag, st.now(), body.label))
