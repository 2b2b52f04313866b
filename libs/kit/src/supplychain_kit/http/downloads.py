"""Downloads that hold nothing a service needs while a client reads them.

A large document (an export) is written to a temporary file first, on the export pool, at the
database's pace; then the connection and its snapshot are released and the file is sent at
the client's pace. A client that stops reading for `stall_timeout_s` loses the download (the
connection is closed and the file removed), so a stalled reader holds neither a connection nor
a file for long.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Message, Send

log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024


async def spool_file(write: Callable[[Path], Awaitable[None]], *, suffix: str) -> Path:
    """A temporary file `write` fills (it starts empty: SQLite takes an empty file for a new
    database); the file, or nothing left behind when `write` fails."""
    handle, name = tempfile.mkstemp(prefix="download-", suffix=suffix)
    os.close(handle)
    path = Path(name)
    try:
        await write(path)
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    return path


async def spool(chunks: AsyncIterator[bytes], *, suffix: str) -> Path:
    """The chunks written to a temporary file."""

    async def write(path: Path) -> None:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in chunks:
                await out.write(chunk)

    return await spool_file(write, suffix=suffix)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as stream:
        while chunk := await stream.read(READ_BYTES):
            yield chunk


class FileDownload(StreamingResponse):
    """A spooled file as an attachment; removed once sent, or once the reader gave up or
    stalled past `stall_timeout_s`."""

    def __init__(
        self, path: Path, *, media_type: str, filename: str, stall_timeout_s: float
    ) -> None:
        super().__init__(
            _file_chunks(path),
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Content-Length": str(path.stat().st_size),
            },
        )
        self.path = path
        self.stall_timeout_s = stall_timeout_s

    async def stream_response(self, send: Send) -> None:
        async def send_in_time(message: Message) -> None:
            with anyio.fail_after(self.stall_timeout_s):
                await send(message)

        try:
            await super().stream_response(send_in_time)
        except TimeoutError:
            # the response is left incomplete: the server closes the connection
            log.warning(
                "download %s abandoned: the client read nothing for %g s",
                self.path.name,
                self.stall_timeout_s,
            )
        finally:
            chunks = self.body_iterator
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()  # the file is closed now, not when collected
            await anyio.Path(self.path).unlink(missing_ok=True)
