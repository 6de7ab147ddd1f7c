"""SPDY/3.1, the server side, as the Kubernetes streaming endpoints speak it to kubectl.

Frames (draft-mbelshe-httpbis-spdy-00 and the 3.1 amendments): a control frame is
``1 | version(15) | type(16) | flags(8) | length(24) | payload``, a data frame
``0 | stream-id(31) | flags(8) | length(24) | data``. Header blocks (SYN_STREAM,
SYN_REPLY, HEADERS) are ``count, (len, name, len, value)*`` with 32-bit lengths, lower
case names and NUL-separated repeated values, compressed by one zlib stream per
direction primed with the SPDY/3 dictionary, each block ending with a sync flush.

Clients open streams with odd ids; the server replies to each SYN_STREAM with a
SYN_REPLY (FIN set when it refuses the stream, as Kubernetes does). Flow control:
kubectl's spdystream neither sends nor honours WINDOW_UPDATE, so the windows are not
enforced on what is sent; what is received is acknowledged with WINDOW_UPDATEs (per
stream and, SPDY/3.1, for the session) so that a client that does keep windows is
never stalled.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9
)  # fmt: skip
FLAG_FIN = 0x01
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM = 1, 2, 3  # RST_STREAM and GOAWAY statuses
INITIAL_WINDOW = 64 * 1024  # SPDY/3's default window, per stream and for the session
DATA_CHUNK = 32 * 1024

# The SPDY/3 header dictionary: these words, each after its 32-bit big-endian length,
# then the tail as it stands. Its Adler-32 (the zlib FDICT id) is 0xe3c6a7c2.
_NAMES = " ".join((
    "options head post put delete trace accept accept-charset accept-encoding",
    "accept-language accept-ranges age allow authorization cache-control connection",
    "content-base content-encoding content-language content-length content-location",
    "content-md5 content-range content-type date etag expect expires from host",
    "if-match if-modified-since if-none-match if-range if-unmodified-since",
    "last-modified location max-forwards pragma proxy-authenticate",
    "proxy-authorization range referer retry-after server te trailer",
    "transfer-encoding upgrade user-agent vary via warning www-authenticate",
    "method get status version HTTP/1.1 url public set-cookie keep-alive origin",
)).split()  # fmt: skip
_WORDS = (*_NAMES[: _NAMES.index("version")], "200 OK", *_NAMES[_NAMES.index("version") :])
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


DICTIONARY = _dictionary()

Headers = dict[str, list[str]]
Opened = Callable[[], None]


class ProtocolError(Exception):
    """The peer sent something SPDY/3.1 does not allow: the session ends."""


# -- frames ------------------------------------------------------------------------------


def control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


def encode_headers(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name, raw_value = name.lower().encode(), "\0".join(values).encode()
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]  # fmt: skip
    return b"".join(out)


def decode_headers(raw: bytes) -> Headers:
    try:
        (count,), at = struct.unpack_from(">I", raw), 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, at)
            name, at = raw[at + 4 : at + 4 + n].decode(), at + 4 + n
            (n,) = struct.unpack_from(">I", raw, at)
            value, at = raw[at + 4 : at + 4 + n].decode(), at + 4 + n
            if name != name.lower() or name in headers:
                raise ProtocolError(f"header {name!r} not lower case or repeated")
            headers[name] = value.split("\0")
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    return headers


@dataclass(frozen=True)
class Frame:
    kind: int  # 0 for a data frame, else the control frame type
    flags: int
    payload: bytes
    stream_id: int = 0  # data frames only (control frames carry theirs in the payload)


def read_frame(read: Callable[[int], bytes]) -> Frame:
    """One frame; ``read(n)`` returns exactly n bytes or raises EOFError."""
    first, second = struct.unpack(">II", read(8))
    flags, length = second >> 24, second & 0xFFFFFF
    payload = read(length) if length else b""
    if first & 0x80000000:
        version = (first >> 16) & 0x7FFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version}, this server speaks {VERSION}")
        return Frame(first & 0xFFFF, flags, payload)
    return Frame(0, flags, payload, first & 0x7FFFFFFF)


# -- streams and the session --------------------------------------------------------------


@dataclass(eq=False)
class Stream:
    """One client-opened stream: its headers, what arrives on it, and its way back."""

    conn: Connection
    id: int
    headers: Headers
    _incoming: queue.SimpleQueue[bytes | None] = field(default_factory=queue.SimpleQueue)
    _buffer: bytes = b""
    _eof: bool = False
    sent_fin: bool = False
    remote_fin: bool = False
    reset: bool = False
    _unacked: int = 0

    def header(self, name: str) -> str:
        return (self.headers.get(name.lower()) or [""])[0]

    def read(self, timeout: float | None = None) -> bytes:
        """The next bytes the client sent; b"" once it half-closed the stream (or the
        session ended). Raises queue.Empty after ``timeout``."""
        if self._buffer:
            out, self._buffer = self._buffer, b""
            return out
        if self._eof:
            return b""
        chunk = self._incoming.get(timeout=timeout)
        if chunk is None:
            self._eof = True
            return b""
        self.conn.consumed(self, len(chunk))
        return chunk

    def read_all(self) -> bytes:
        out = b""
        while chunk := self.read():
            out += chunk
        return out

    def write(self, data: bytes) -> bool:
        """Send ``data`` (in frames of at most 32 KiB); False when the stream or session is gone."""
        for at in range(0, len(data), DATA_CHUNK):
            if not self.conn.send(data_frame(self.id, data[at : at + DATA_CHUNK]), self):
                return False
        return True

    def close(self) -> None:
        """Half-close: an empty data frame with FIN (idempotent)."""
        if not self.sent_fin and not self.reset:
            self.sent_fin = True
            self.conn.send(data_frame(self.id, b"", fin=True), self)
            self.conn.forget_if_done(self)

    def _deliver(self, data: bytes, fin: bool) -> None:
        if self.remote_fin:
            return
        if data:
            self._incoming.put(data)
        if fin:
            self.remote_fin = True
            self._incoming.put(None)

    def _end(self) -> None:
        if not self.remote_fin:
            self.remote_fin = True
            self._incoming.put(None)


class Connection:
    """One SPDY session over a byte transport: ``serve()`` reads frames until the
    transport ends. Each new stream goes to ``on_stream``, which returns None to refuse
    it, else a callable run (on the reading thread: it must not block) once the
    SYN_REPLY is out, so nothing is sent on a stream before its reply. Writes may come
    from any thread."""

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], None],
                 on_stream: Callable[[Stream], Opened | None]) -> None:  # fmt: skip
        self._read, self._write, self.on_stream = read, write, on_stream
        self._wlock = threading.Lock()
        self._compress = zlib.compressobj(
            9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY
        )
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)
        self.streams: dict[int, Stream] = {}
        self._slock = threading.Lock()
        self._last_id = 0
        self.closed = threading.Event()  # the transport ended (either side)
        self.goaway = threading.Event()  # the client said it opens no more streams
        self._session_unacked = 0

    # -- sending -----------------------------------------------------------------------

    def send(self, raw: bytes, stream: Stream | None = None) -> bool:
        with self._wlock:
            if self.closed.is_set() or (stream is not None and stream.reset):
                return False
            try:
                self._write(raw)
            except (OSError, ValueError):  # ValueError: the handler closed its file
                self.closed.set()
                return False
            return True

    def _header_block(self, headers: Headers) -> bytes:
        # under the write lock: the compression context is shared by all frames in order
        return self._compress.compress(encode_headers(headers)) + self._compress.flush(
            zlib.Z_SYNC_FLUSH
        )

    def reply(self, stream: Stream, headers: Headers | None = None, fin: bool = False) -> None:
        with self._wlock:
            if self.closed.is_set():
                return
            payload = struct.pack(">I", stream.id) + self._header_block(headers or {})
            try:
                self._write(control(SYN_REPLY, FLAG_FIN if fin else 0, payload))
            except (OSError, ValueError):  # ValueError: the handler closed its file
                self.closed.set()
        if fin:
            stream.sent_fin = True

    def reset_stream(self, stream_id: int, status: int) -> None:
        self.send(control(RST_STREAM, 0, struct.pack(">II", stream_id, status)))
        with self._slock:
            gone = self.streams.pop(stream_id, None)
        if gone is not None:
            gone.reset = True
            gone._end()

    def go_away(self, status: int = 0) -> None:
        self.send(control(GOAWAY, 0, struct.pack(">II", self._last_id, status)))

    def consumed(self, stream: Stream, n: int) -> None:
        """Acknowledge ``n`` bytes read from ``stream`` once half a window has gathered."""
        updates = []
        with self._slock:  # streams are read on their own threads
            stream._unacked += n
            self._session_unacked += n
            if stream._unacked >= INITIAL_WINDOW // 2 and not stream.remote_fin:
                updates.append((stream.id, stream._unacked))
                stream._unacked = 0
            if self._session_unacked >= INITIAL_WINDOW // 2:
                updates.append((0, self._session_unacked))
                self._session_unacked = 0
        for stream_id, delta in updates:
            self.send(control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta)))

    def forget_if_done(self, stream: Stream) -> None:
        if stream.sent_fin and stream.remote_fin:
            with self._slock:
                self.streams.pop(stream.id, None)

    # -- receiving ---------------------------------------------------------------------

    def serve(self) -> None:
        """Read and dispatch frames until the transport ends or the client errs."""
        try:
            while True:
                self._dispatch(read_frame(self._read))
        except (EOFError, OSError):
            pass
        except ProtocolError as exc:
            log.warning("SPDY session ended: %s", exc)
            self.go_away(1)
        finally:
            self.closed.set()
            with self._slock:
                streams, self.streams = list(self.streams.values()), {}
            for stream in streams:
                stream._end()

    def _dispatch(self, f: Frame) -> None:
        if f.kind == 0:
            with self._slock:
                stream = self.streams.get(f.stream_id)
            if stream is None:
                if f.stream_id > self._last_id or f.stream_id % 2 == 0:
                    self.reset_stream(f.stream_id, INVALID_STREAM)
                return  # a late frame of a stream already done
            stream._deliver(f.payload, bool(f.flags & FLAG_FIN))
            self.forget_if_done(stream)
        elif f.kind == SYN_STREAM:
            self._syn_stream(f)
        elif f.kind == RST_STREAM:
            (stream_id, _status) = struct.unpack(">II", f.payload[:8])
            with self._slock:
                stream = self.streams.pop(stream_id & 0x7FFFFFFF, None)
            if stream is not None:
                stream.reset = True
                stream._end()
        elif f.kind == PING:
            (ping_id,) = struct.unpack(">I", f.payload[:4])
            if ping_id % 2 == 1:  # the client's: echoed as it came
                self.send(control(PING, 0, f.payload[:4]))
        elif f.kind == GOAWAY:
            self.goaway.set()
        elif f.kind in (HEADERS, SETTINGS, WINDOW_UPDATE):
            if f.kind == HEADERS:  # keeps the shared decompression context in step
                self._decompress.decompress(f.payload[4:])
        else:
            log.debug("SPDY control frame type %d ignored", f.kind)

    def _syn_stream(self, f: Frame) -> None:
        stream_id = struct.unpack(">I", f.payload[:4])[0] & 0x7FFFFFFF
        try:
            raw = self._decompress.decompress(f.payload[10:])
        except zlib.error as exc:
            raise ProtocolError(f"header block does not decompress: {exc}") from None
        headers = decode_headers(raw)
        if stream_id % 2 == 0 or stream_id <= self._last_id:
            self.reset_stream(stream_id, PROTOCOL_ERROR)
            return
        self._last_id = stream_id
        if self.goaway.is_set():
            self.reset_stream(stream_id, REFUSED_STREAM)
            return
        stream = Stream(self, stream_id, headers)
        if f.flags & FLAG_FIN:
            stream._deliver(b"", True)
        with self._slock:
            self.streams[stream_id] = stream
        opened = self.on_stream(stream)
        self.reply(stream, fin=opened is None)
        if opened is None:
            stream._end()
            self.forget_if_done(stream)
        else:
            opened()
