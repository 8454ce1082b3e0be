"""Templates (autoescaped Jinja2), safe Markdown, and the small formatting helpers pages share."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from maikit.server.web.session import csrf_token, current_user

# what a challenge description may keep after rendering (links only to http(s)/mailto)
_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote", "ul", "ol",
         "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img", "del"}
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


def markdown(text: str) -> Markup:
    """Markdown (CommonMark + tables) to HTML with raw HTML escaped and the result sanitised (nh3)."""
    import nh3
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text or "")
    for tok in tokens:  # the page has its h1 and h2: the description's headings start at h3
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(6, int(tok.tag[1]) + 2)}"
    html = md.renderer.render(tokens, md.options, {})
    return Markup(nh3.clean(html, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                            link_rel="noopener noreferrer nofollow"))


def fmt(value, precision: int | None = 2) -> str:
    """A number at the column's precision; text as is; missing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and precision is not None:
        return f"{value:.{precision}f}"
    return str(value)


def utc(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def when(value) -> Markup:
    """A time in UTC, with the reader's local time filled in by the page's script."""
    if value is None:
        return Markup("—")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    iso = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{0}" data-local>{1}</time><span class="local" aria-live="off"></span>').format(
        iso, utc(value))


@lru_cache(maxsize=1)
def env() -> Environment:
    e = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(default=True),
                    trim_blocks=True, lstrip_blocks=True)
    e.filters.update(fmt=fmt, utc=utc, when=when, markdown=markdown)
    return e


def render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    user = ctx.pop("user", None) or current_user(request)
    html = env().get_template(name).render(request=request, user=user, csrf=csrf_token(request), **ctx)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    titles = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 413: "File too large", 429: "Quota used up",
              503: "Try again later"}
    return render(request, "error.html", status=status, title=titles.get(status, "Error"), detail=detail, status_code=status)
