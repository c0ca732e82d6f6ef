"""The user service, minimal: customers registered by id and name; orders ask it whether a customer exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import NotFound
from datastrata.core.events import NewEvent
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import USER_REGISTERED, USERS, check_id, name_text
from datastrata.writes.commands import CommandHandler


@dataclass(frozen=True, slots=True)
class User:
    """A registered customer."""

    user_id: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"user_id": self.user_id, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        """Rebuild from :meth:`to_dict`."""
        return cls(str(data["user_id"]), str(data["name"]))


class UsersService:
    """Registers customers and answers who they are."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.commands = CommandHandler(runtime)

    def register(self, user_id: object, name: object) -> User:
        """Register a customer (again with the same name: nothing changes; another name renames them)."""
        user = User(check_id(user_id, field="user_id"), name_text(name))

        def body(work: Work) -> User:
            tenant = work.scope.tenant
            found = work.scalar(
                "SELECT name FROM commerce_users WHERE tenant_id = ? AND user_id = ?", (tenant, user.user_id)
            )
            if found == user.name:
                return user
            work.execute("DELETE FROM commerce_users WHERE tenant_id = ? AND user_id = ?", (tenant, user.user_id))
            work.execute(
                "INSERT INTO commerce_users (tenant_id, user_id, name, registered_at) VALUES (?, ?, ?, ?)",
                (tenant, user.user_id, user.name, time_to_db(work.dialect, self.runtime.clock())),
            )
            work.append([NewEvent(USER_REGISTERED, user.to_dict())])
            return user

        return self.commands.run(
            "register", Scope.of(USERS, user.user_id), body, encode=User.to_dict, decode=User.from_dict
        )

    def get(self, user_id: object) -> User:
        """Return the customer `user_id`."""
        who = check_id(user_id, field="user_id")
        with self.runtime.read(Scope.of(USERS, who)) as work:
            name = work.scalar(
                "SELECT name FROM commerce_users WHERE tenant_id = ? AND user_id = ?", (work.scope.tenant, who)
            )
        if name is None:
            raise NotFound(f"customer: no user {who!r}; register them with `commerce user add`", field="customer")
        return User(who, str(name))
