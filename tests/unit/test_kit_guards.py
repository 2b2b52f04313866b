"""The kit's input guards and its answer to the unexpected, on a tiny app served by a real
uvicorn over real sockets (no broker, no database): what a route never gets, the problem
documents that say why, and a connection that outlives a 500."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Query
from pydantic import BaseModel
from supplychain_devstack.processes import free_port
from supplychain_kit.http.inputs import MAX_JSON_DEPTH, body_problems, install_input_guards
from supplychain_kit.http.openapi import install_openapi
from supplychain_kit.http.problems import install_problem_handlers

LIMIT = 4096
received: list[object] = []


class Note(BaseModel):
    text: str
    count: int = 0
    extra: dict[str, object] = {}


def tiny_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_openapi(app)
    install_input_guards(app, max_body_bytes=LIMIT)

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug no handler maps")

    @app.get("/items/{code}")
    async def item(code: str, tag: Annotated[str | None, Query()] = None) -> dict[str, object]:
        received.append((code, tag))
        return {"code": code, "tag": tag}

    @app.get("/pages/{number}")
    async def page(number: int, offset: int = 0) -> dict[str, int]:
        # unbounded on purpose: the guard holds them to 64 bits from the document
        received.append((number, offset))
        return {"number": number, "offset": offset}

    @app.post("/notes")
    async def note(body: Note) -> dict[str, object]:
        received.append(body)
        return body.model_dump()

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(tiny_app(), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def local_port(response: httpx.Response) -> int:
    """The client's port of the connection the response came on."""
    sock = response.extensions["network_stream"].get_extra_info("socket")
    return int(sock.getsockname()[1])


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert "Traceback" not in response.text
    return problem


def test_a_500_is_a_problem_and_the_kept_alive_connection_serves_the_next_request(
    base_url: str,
) -> None:
    with httpx.Client(base_url=base_url) as client:
        failed = client.get("/boom")
        port = local_port(failed)
        problem = assert_problem(failed, 500)
        assert problem["detail"] == "An internal error occurred; it has been logged."
        assert "a bug" not in failed.text
        assert failed.headers.get("connection", "keep-alive") != "close"
        following = client.get("/items/A1")
        assert following.status_code == 200
        # the same connection: uvicorn did not drop it after the 500
        assert local_port(following) == port


def test_two_requests_on_one_socket_after_a_500(base_url: str) -> None:
    """As a raw keep-alive client: both answers arrive on one connection."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        sock.sendall(b"GET /items/B2 HTTP/1.1\r\nHost: x\r\n\r\n")
        second = read_response(sock)
    assert first.startswith(b"HTTP/1.1 500"), first
    assert second.startswith(b"HTTP/1.1 200"), second


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        ).split(b":")[1]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/items/A%00B", "code"),
        ("/items/A%1BB", "code"),
        ("/items/A?tag=x%00y", "tag"),
        ("/items/A?tag=%C2%85", "tag"),  # U+0085, a C1 control
        ("/items/A?tag=%7F", "tag"),
    ],
)
def test_control_characters_in_path_and_query_are_refused_naming_the_parameter(
    base_url: str, url: str, field: str
) -> None:
    received.clear()
    response = httpx.get(f"{base_url}{url}")
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "control character" in problem["errors"][0]["message"]
    assert received == []  # the route never ran


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/pages/{2**64}", "number"),
        (f"/pages/1?offset={2**63}", "offset"),
        (f"/pages/1?offset=-{2**63 + 1}", "offset"),
        (f"/pages/1?offset={'9' * 5000}", "offset"),
    ],
)
def test_integer_parameters_beyond_64_bits_are_refused_naming_them(
    base_url: str, url: str, field: str
) -> None:
    received.clear()
    problem = assert_problem(httpx.get(f"{base_url}{url}"), 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert received == []


def test_integer_parameters_within_64_bits_pass(base_url: str) -> None:
    response = httpx.get(f"{base_url}/pages/{2**63 - 1}", params={"offset": -(2**63)})
    assert response.json() == {"number": 2**63 - 1, "offset": -(2**63)}


def test_text_that_is_not_control_passes(base_url: str) -> None:
    response = httpx.get(f"{base_url}/items/caf%C3%A9", params={"tag": "a b+c/ü"})
    assert response.json() == {"code": "café", "tag": "a b+c/ü"}


def test_a_control_character_in_a_header_never_reaches_a_route(base_url: str) -> None:
    """h11 (uvicorn's parser) already refuses it with a 400 and closes; the guard is there
    for servers that let it through. Either way: a 4xx, never the route."""
    host, port = base_url.removeprefix("http://").split(":")
    received.clear()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /items/C3 HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 4"), answer
    assert received == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": "a\u0000b"}, "text", "U+0000"),
        ({"text": "bell\u0007"}, "text", "U+0007"),
        ({"text": "ok", "extra": {"k": ["x", "\u001b[31m"]}}, "extra.k.1", "U+001B"),
        ({"text": "ok", "extra": {"bad\u0000key": 1}}, "extra.bad\u0000key", "name"),
        ({"text": "ok", "count": 2**64}, "count", "out of range"),
        ({"text": "ok", "count": -(2**63) - 1}, "count", "out of range"),
        ({"text": "ok", "extra": {"n": 10**400}}, "extra.n", "out of range"),
    ],
)
def test_body_values_no_column_can_hold_are_refused_naming_the_field(
    base_url: str, body: dict, field: str, message: str
) -> None:
    received.clear()
    raw = json.dumps(body)
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == field
    assert message in problem["errors"][0]["message"]
    assert received == []


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 4000])
def test_numbers_json_has_not_are_refused(base_url: str, token: str) -> None:
    raw = '{"text": "ok", "extra": {"x": ' + token + "}}"
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "extra.x"


def test_a_lone_surrogate_is_refused(base_url: str) -> None:
    raw = '{"text": "\\ud800"}'
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    assert "surrogate" in assert_problem(response, 422)["errors"][0]["message"]


def test_tab_and_newlines_are_text_in_a_body(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/notes", json={"text": "line 1\r\n\tline 2", "count": 2**63 - 1}
    )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "line 1\r\n\tline 2"


def test_a_body_that_is_not_json_is_refused_naming_line_and_column(base_url: str) -> None:
    raw = '{\n  "text": "ok",\n  "count": 1,,\n}'
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert (problem["line"], problem["column"], problem["position"]) == (3, 14, 31)
    assert "line 3 column 14" in problem["detail"]


def test_a_body_that_is_not_utf8_is_refused_naming_the_byte(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/notes",
        content=b'{"text": "\xff"}',
        headers={"content-type": "application/json"},
    )
    assert assert_problem(response, 400)["position"] == 10


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 2, 1900])
def test_a_body_nested_too_deep_is_refused_naming_the_limit(base_url: str, depth: int) -> None:
    raw = '{"text": "ok", "extra": {"x": ' + "[" * depth + "]" * depth + "}}"
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert problem["limit_depth"] == MAX_JSON_DEPTH


def test_a_body_over_the_limit_is_refused_from_its_content_length(base_url: str) -> None:
    raw = json.dumps({"text": "x" * LIMIT})
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 413)
    assert problem["limit_bytes"] == LIMIT
    assert response.headers["connection"] == "close"


def test_a_streamed_body_over_the_limit_is_refused_while_it_streams(base_url: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(1000):  # 1 MB, far more than the server reads before refusing
            sent += 1
            yield b"x" * 1000
        yield b'"}'

    try:
        response = httpx.post(
            f"{base_url}/notes", content=chunks(), headers={"content-type": "application/json"}
        )
    except httpx.HTTPError:
        # the server answered and closed while the client was still sending: refused
        # before it was read, which is the point (the answer may be lost with the socket)
        assert sent < 1000
        return
    assert "content-length" not in response.request.headers  # chunked
    assert assert_problem(response, 413)["limit_bytes"] == LIMIT


def test_a_body_at_the_limit_passes(base_url: str) -> None:
    prefix = '{"text": "'
    raw = prefix + "x" * (LIMIT - len(prefix) - 2) + '"}'
    assert len(raw) == LIMIT
    response = httpx.post(
        f"{base_url}/notes", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


def test_the_openapi_document_lists_the_guards_answers(base_url: str) -> None:
    document = httpx.get(f"{base_url}/openapi.json").json()
    post = document["paths"]["/notes"]["post"]["responses"]
    assert {"400", "413", "422"} <= set(post)
    get_item = document["paths"]["/items/{code}"]["get"]["responses"]
    assert {"400", "404", "422"} <= set(get_item)
    assert "413" not in get_item  # no body, no size limit to break
    for responses in (post, get_item):
        for code in ("400", "422"):
            assert list(responses[code]["content"]) == ["application/problem+json"]
            schema = responses[code]["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ProblemDetail"}
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ProblemDetail"]["required"]) == {"title", "status", "detail", "instance"}


def test_body_problems_walks_the_whole_document() -> None:
    document = {"a": [{"b": "ok"}, {"c": "\u0000"}], "d": {"e": "\u0085"}, "f": "fine\n"}
    assert sorted(body_problems(document)) == [
        ("a.1.c", "contains the control character U+0000"),
        ("d.e", "contains the control character U+0085"),
    ]
