"""Why a choice was made: the rule, the article section it comes from, and the spec lines it used."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Evidence:
    """One spec field a rule used, with its source line when the spec came from text."""

    path: str
    text: str
    line: int | None = None

    def where(self) -> str:
        """`contexts[0].operations[1] (line 14)`."""
        return f"{self.path} (line {self.line})" if self.line is not None else self.path

    def render(self) -> str:
        """`contexts[0].operations[1] (line 14): submit order — write, very-high`."""
        return f"{self.where()}: {self.text}"


@dataclass(frozen=True, slots=True)
class Reason:
    """A rule applied to evidence: what the rule says and what in the spec triggered it."""

    rule: str
    article: str
    says: str
    evidence: tuple[Evidence, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of a reason."""
        return {
            "rule": self.rule,
            "article": self.article,
            "says": self.says,
            "spec": [item.render() for item in self.evidence],
        }
