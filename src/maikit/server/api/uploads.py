"""An upload's multipart body, read as it arrives: each file straight into the file store's
temporary folder under its own cap, each text field into memory under its cap, nothing else
kept (no spooled temporary file of Starlette's, no copy in the system's temporary folder).

The route authenticates and looks up the phase's caps first (:class:`Part` per field it
takes), then calls :func:`receive_form`; any refusal (a part over its cap, the body over the
route's limit, a field the route does not take, a client gone mid-body, a store that cannot
take the file) removes every file written so far before it is raised."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from starlette.requests import ClientDisconnect, Request

from maikit.server.api.bodies import set_limit
from maikit.server.errors import Interrupted, Invalid, TooLarge
from maikit.server.store import FileStore, Incoming, Spooled

try:  # python-multipart >= 0.0.13 is `python_multipart`; older ones `multipart`
    from python_multipart.multipart import MultipartParser, parse_options_header
except ModuleNotFoundError:  # pragma: no cover
    from multipart.multipart import MultipartParser, parse_options_header

MAX_PARTS = 16


@dataclass
class Part:
    """A field the route takes: into the store (a file) or memory (text), at most ``cap`` bytes;
    ``too_large`` is the refusal's line."""

    cap: int
    file: bool
    too_large: str


@dataclass
class Form:
    files: dict[str, Spooled] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # the client's file names (never used as paths)

    def text(self, name: str, default: str = "") -> str:
        return self.texts[name].decode("utf-8", errors="replace") if name in self.texts else default

    def discard(self) -> None:
        """Remove every file of the form still in the store's temporary folder."""
        for f in self.files.values():
            f.path.unlink(missing_ok=True)


def _disposition(headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    kind, options = parse_options_header(headers.get(b"content-disposition", b""))
    name = options.get(b"name")
    if kind != b"form-data" or name is None:
        raise Invalid("a part of the form has no name (Content-Disposition: form-data; name=...)")
    filename = options.get(b"filename")
    return name.decode("utf-8", errors="replace"), None if filename is None else filename.decode("utf-8", errors="replace")


async def _chunks(request: Request, idle_s: float | None):
    """The body's chunks; Interrupted when none arrives for ``idle_s`` seconds (a stalled
    client gives back the place it holds)."""
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(idle_s):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Interrupted(f"the upload stalled: nothing arrived for {idle_s:g} s") from None
        yield chunk


async def receive_form(request: Request, parts: dict[str, Part], store: FileStore, limit: int,
                       idle_s: float | None = None) -> Form:
    """The form of ``request``'s body, at most ``limit`` bytes in all (413), each part under its
    own cap, each piece arriving within ``idle_s`` of the last (400 otherwise); a file part sent
    with no file chosen (a browser's empty part) is left out."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid("the upload must be multipart/form-data (the model in the field 'file')")
    set_limit(request.scope, limit)
    events: list[tuple[str, bytes]] = []
    parser = MultipartParser(boundary, {
        "on_part_begin": lambda: events.append(("begin", b"")),
        "on_header_field": lambda d, s, e: events.append(("field", d[s:e])),
        "on_header_value": lambda d, s, e: events.append(("value", d[s:e])),
        "on_header_end": lambda: events.append(("header_end", b"")),
        "on_headers_finished": lambda: events.append(("headers", b"")),
        "on_part_data": lambda d, s, e: events.append(("data", d[s:e])),
        "on_part_end": lambda: events.append(("end", b"")),
    })
    form = Form()
    headers: dict[bytes, bytes] = {}
    hname, hvalue = b"", b""
    name, filename, spec = "", None, None
    sink: Incoming | bytearray | None = None
    count = 0
    try:
        try:
            async for chunk in _chunks(request, idle_s):
                try:
                    parser.write(chunk)
                except ValueError as e:  # python-multipart's parse errors
                    raise Invalid(f"the upload is not a readable multipart/form-data body ({e})") from None
                for ev, data in events:
                    if ev == "begin":
                        headers, hname, hvalue, count = {}, b"", b"", count + 1
                        if count > MAX_PARTS:
                            raise Invalid(f"the form has more than {MAX_PARTS} parts")
                    elif ev == "field":
                        hname += data
                    elif ev == "value":
                        hvalue += data
                    elif ev == "header_end":
                        headers[hname.lower()] = hvalue
                        hname, hvalue = b"", b""
                    elif ev == "headers":
                        name, filename = _disposition(headers)
                        spec = parts.get(name)
                        if spec is None:
                            raise Invalid(f"the form has a field {name!r} this upload does not take "
                                          f"(it takes {', '.join(parts)})")
                        if name in form.files or name in form.texts:
                            raise Invalid(f"the form has the field {name!r} twice")
                        if spec.file:
                            sink = store.incoming(spec.cap, name)
                        else:
                            sink = bytearray()
                    elif ev == "data":
                        if isinstance(sink, Incoming):
                            try:
                                sink.write(data)
                            except TooLarge:
                                raise TooLarge(spec.too_large) from None
                        else:
                            sink += data
                            if len(sink) > spec.cap:
                                raise TooLarge(spec.too_large)
                    elif ev == "end":
                        if isinstance(sink, Incoming):
                            done = sink.finish()
                            if filename == "" and done.size == 0:  # no file chosen
                                done.path.unlink(missing_ok=True)
                            else:
                                form.files[name], form.names[name] = done, filename or name
                        elif not (filename == "" and not sink):  # a file part with no file chosen: left out
                            form.texts[name] = bytes(sink)
                        sink = None
                events.clear()
            try:
                parser.finalize()
            except ValueError as e:
                raise Invalid(f"the upload is not a readable multipart/form-data body ({e})") from None
            if sink is not None or count == 0:
                raise Invalid("the form ended before its last part did")
        except ClientDisconnect:
            raise Interrupted("the upload was interrupted") from None
    except BaseException:
        if isinstance(sink, Incoming):
            sink.discard()
        form.discard()
        raise
    return form
