"""Guard accounts for the booth: argon2 PIN hashes from the agent config, sessions, lockout.

Everything works offline: the hashes live in ``[[booth.guards]]`` of the agent config (made with
``ecogate agent hash-pin``), sessions live in memory (a restart signs everyone out).
"""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from agent.runtime.config import GuardAccount

__all__ = ["GuardAuth", "Session", "hash_pin", "main"]

_HASHER = PasswordHasher()
MIN_PIN = 4
MAX_PIN = 32
MAX_FAILURES = 5
LOCKOUT_S = 60.0


def hash_pin(pin: str) -> str:
    """Argon2id hash of a PIN (for ``[[booth.guards]] pin_hash``)."""
    if not (MIN_PIN <= len(pin) <= MAX_PIN) or not pin.isdigit():
        msg = f"PIN 必须是 {MIN_PIN}–{MAX_PIN} 位数字"
        raise ValueError(msg)
    return _HASHER.hash(pin)


@dataclass(slots=True)
class Session:
    """A signed-in guard."""

    token: str
    guard: str
    expires: float


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass(slots=True)
class GuardAuth:
    """Verifies PINs against the configured hashes and keeps sessions."""

    guards: tuple[GuardAccount, ...]
    session_s: float
    _sessions: dict[str, Session] = field(default_factory=dict)
    _failures: dict[str, _Failures] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Guard names (the login list)."""
        return [g.name for g in self.guards]

    def locked_for(self, name: str, now: float | None = None) -> float:
        """Seconds the account stays locked after too many wrong PINs (0 when not locked)."""
        now = time.monotonic() if now is None else now
        state = self._failures.get(name)
        return max(0.0, state.locked_until - now) if state else 0.0

    def verify(self, name: str, pin: str) -> Session | None:
        """Check a PIN (slow on purpose: run it in a thread); a session on success."""
        account = next((g for g in self.guards if g.name == name), None)
        if account is None or self.locked_for(name) > 0:
            return None
        ok: bool
        try:
            ok = _HASHER.verify(account.pin_hash, pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            state = self._failures.setdefault(name, _Failures())
            state.count += 1
            if state.count >= MAX_FAILURES:
                state.count = 0
                state.locked_until = time.monotonic() + LOCKOUT_S
            return None
        self._failures.pop(name, None)
        session = Session(token=secrets.token_urlsafe(32), guard=name, expires=time.monotonic() + self.session_s)
        self._sessions[session.token] = session
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session of a token (None when unknown or expired)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires < time.monotonic():
            del self._sessions[token]
            return None
        return session

    def logout(self, token: str | None) -> None:
        """End a session."""
        if token:
            self._sessions.pop(token, None)


def main(argv: list[str]) -> int:
    """``ecogate agent hash-pin [PIN]``: print the argon2 hash of a PIN (read from stdin when omitted)."""
    if argv and argv[0] in {"-h", "--help"}:
        print("用法: ecogate agent hash-pin [PIN]   （不带参数时从标准输入读取，避免 PIN 留在命令历史里）")  # noqa: T201
        return 0
    if len(argv) > 1:
        print("用法: ecogate agent hash-pin [PIN]", file=sys.stderr)  # noqa: T201
        return 2
    pin = argv[0] if argv else sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))  # noqa: T201
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0
