"""A team's factsheet: what the report says of it (Table 1's framework column, its method
subsection, its Appendix A entry). Sent with a final-phase upload as a YAML or JSON file
(``mai submit --factsheet``), or written on the site; editable until the phase ends.

::

    team: dh_isp
    title: Smallnet for learned smartphone ISP     # the method's title
    members:                                        # the first is the contact (e-mail needed)
      - {name: Shusong Xu, email: someone@example.org, affiliations: [1]}
      - {name: Second Member}
    affiliations: [Dahua Technology, China]
    description: |                                  # Markdown
      Three convolutions and a pixel shuffle...
    framework: PyTorch / TensorFlow
    training_data: the challenge's training set, flips and crops
    training_time: 8 hours on one GPU
    model_size: 5.4K parameters                     # optional, as the team states it
    links: [{title: code, url: https://example.org/code}]   # optional, http(s) only
"""

from __future__ import annotations

import json
import re

from pydantic import Field, ValidationError, field_validator, model_validator

from maikit.errors import MaikitError
from maikit.server.challenge import _Strict, _where

FACTSHEET_MAX_BYTES = 64_000
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class Member(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=200)
    affiliations: list[int] | None = None  # 1-based numbers into the factsheet's affiliations (default: the first)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v


class Link(_Strict):
    title: str | None = Field(None, max_length=200)
    url: str = Field(max_length=1000)

    @field_validator("url")
    @classmethod
    def _web(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s]+$", v):
            raise ValueError("must be an http:// or https:// address")
        return v


class Factsheet(_Strict):
    """What the report says of a team: Table 1's framework column, its method subsection and
    its Appendix A entry. ``members[0]`` is the contact (an e-mail is needed for them)."""

    team: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)  # the method's title
    members: list[Member] = Field(min_length=1, max_length=50)
    affiliations: list[str] = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1, max_length=20_000)  # Markdown
    framework: str = Field(min_length=1, max_length=100)  # e.g. "PyTorch / TensorFlow"
    training_data: str = Field(min_length=1, max_length=2000)
    training_time: str = Field(min_length=1, max_length=200)
    model_size: str | None = Field(None, max_length=200)  # as the team states it (parameters...)
    links: list[Link] = Field([], max_length=20)

    @field_validator("affiliations")
    @classmethod
    def _nonblank(cls, v: list[str]) -> list[str]:
        for i, a in enumerate(v):
            if not a.strip() or len(a) > 500:
                raise ValueError(f"affiliation {i + 1} is blank or longer than 500 characters")
        return v

    @model_validator(mode="after")
    def _refs(self) -> "Factsheet":
        if not self.members[0].email:
            raise ValueError("members[0] is the contact: give their e-mail")
        n = len(self.affiliations)
        for i, m in enumerate(self.members):
            bad = [a for a in m.affiliations or [] if not 1 <= a <= n]
            if bad:
                raise ValueError(f"members[{i}].affiliations: {bad[0]} is not one of the {n} affiliation(s)")
        for field in ("team", "title", "description", "framework", "training_data", "training_time"):
            if not getattr(self, field).strip():
                raise ValueError(f"{field} is blank")
        return self


FACTSHEET_FIELDS = tuple(Factsheet.model_fields)


def _no_alias_loader():
    import yaml

    class NoAliases(yaml.SafeLoader):
        """YAML without anchors' aliases: a few lines of them expand to gigabytes (billion laughs)."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                event = self.get_event()
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
            return super().compose_node(parent, index)

    return NoAliases


def factsheet_from(obj: object, source: str = "factsheet") -> Factsheet:
    """Validate a loaded factsheet; MaikitError names the first bad field and why."""
    if not isinstance(obj, dict):
        raise MaikitError("expected a mapping of factsheet fields (team, title, members...)", source)
    try:
        return Factsheet.model_validate(obj)
    except ValidationError as e:
        errs = e.errors()
        first = errs[0]
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        where = _where(first["loc"])
        raise MaikitError(f"{where}: {msg}{more}" if first["loc"] else msg + more, source) from None


def parse_factsheet(raw: bytes, source: str = "factsheet") -> Factsheet:
    """A factsheet file's bytes (YAML or JSON, UTF-8, at most 64 KB), validated."""
    import yaml

    if len(raw) > FACTSHEET_MAX_BYTES:
        raise MaikitError(f"larger than {FACTSHEET_MAX_BYTES // 1000} KB", source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MaikitError("not UTF-8 text", source) from None
    try:
        obj = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_no_alias_loader())
    except json.JSONDecodeError as e:
        raise MaikitError(f"not valid JSON ({e.msg} at line {e.lineno})", source) from None
    except yaml.YAMLError as e:
        raise MaikitError(f"not valid YAML ({' '.join(str(e).split())[:160]})", source) from None
    return factsheet_from(obj, source)
