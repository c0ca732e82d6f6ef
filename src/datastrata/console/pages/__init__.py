"""The console's pages: one module each, found by name, each with its :class:`Page` and its router.

A page module defines ``PAGE = Page(slug, title, order, summary, router)``; its router's paths start with
``/console/<slug>`` and use :class:`ConsoleRoute`, so a refusal renders as a page (or a sign-in redirect) rather than
problem+json. Adding a page is adding a module here; the menu and the app pick it up.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the console: where it is, what the menu calls it, and its routes."""

    slug: str
    title: str
    order: int
    summary: str
    router: APIRouter

    @property
    def href(self) -> str:
        """The page's address."""
        from datastrata.console.render import PREFIX

        return f"{PREFIX}/{self.slug}"


@cache
def pages() -> tuple[Page, ...]:
    """Every page module's page, in menu order."""
    found: list[Page] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        page = getattr(module, "PAGE", None)
        if isinstance(page, Page):
            found.append(page)
    return tuple(sorted(found, key=lambda p: (p.order, p.slug)))


def menu() -> list[Page]:
    """The pages in the menu's order."""
    return list(pages())
