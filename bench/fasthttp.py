"""A minimal HTTP/1.1 keep-alive client for the load generator.

httpx costs ~3 ms of CPU per request on this machine and its pool slows down with many
connections; on 2 shared cores the generator would measure itself. This client writes the
request bytes and reads a Content-Length (or chunked) response on pooled connections: enough
for uvicorn, an order of magnitude cheaper.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
            raise _Closed(status, body)
        return status, body

    def close(self) -> None:
        self.writer.close()


class _Closed(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


class Pool:
    """Keep-alive connections to one origin, opened on demand, reused when idle."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: list[_Connection] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        wait_s: float = 60,
    ) -> tuple[int, bytes]:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if json_body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        while True:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else None
            if conn is None:
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError as exc:
                    raise HttpError(str(exc) or type(exc).__name__) from exc
                conn = _Connection(reader, writer)
            try:
                result = await asyncio.wait_for(conn.exchange(request), wait_s)
            except _Closed as closed:
                return closed.status, closed.body
            except (ConnectionResetError, asyncio.IncompleteReadError) as exc:
                conn.close()
                if reused and not getattr(exc, "partial", b""):
                    continue  # the server closed an idle keep-alive connection: a fresh one
                raise HttpError(str(exc) or type(exc).__name__) from exc
            except (TimeoutError, OSError, ValueError) as exc:
                conn.close()
                raise HttpError(str(exc) or type(exc).__name__) from exc
            except BaseException:
                conn.close()
                raise
            self._idle.append(conn)
            return result

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
