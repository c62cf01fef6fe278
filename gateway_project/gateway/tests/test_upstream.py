"""The gateway's upstream client against a raw-socket upstream that answers what each test scripts.

Each test runs one event loop with a server on a free port. The server reads each request (head,
and a body by its Content-Length), records its bytes and the connection it came on, and answers
with the test's `answer(request)`: bytes to write, or a callable doing something worse.
"""

import asyncio
import contextlib
import time

import pytest

from gateway.upstream import (
    HIGH_WATER,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_INFORMATIONAL,
    BadAnswer,
    BrokenAnswer,
    ConnectFailed,
    Dropped,
    ReadTimedOut,
    UpstreamPool,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Upstream:
    """A scripted HTTP/1.1 upstream: `requests` holds (connection number, raw request bytes)."""

    def __init__(self, answer):
        self.answer = answer if callable(answer) else lambda request: answer
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self.writers = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.address = self.server.sockets[0].getsockname()[:2]
        return self

    async def __aexit__(self, *exc_info):
        for writer in self.writers:
            writer.close()
        self.server.close()

    async def serve(self, reader, writer):
        self.connections += 1
        number = self.connections
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append((number, request))
                answer = self.answer(request)
                if callable(answer):
                    if await answer(reader, writer) == "close":
                        break
                else:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def run(answer, scenario, **pool_options):
    """Run `scenario(pool, address, upstream)` against an upstream answering with `answer`."""

    async def main():
        async with Upstream(answer) as upstream:
            pool = UpstreamPool(**pool_options)
            try:
                return await scenario(pool, upstream.address, upstream)
            finally:
                pool.close()

    return asyncio.run(main())


async def get(pool, address, target="/restaurants", method="GET", headers=(), body=b"", **kw):
    kw = {"connect_timeout": 1.0, "read_timeout": 1.0, **kw}
    return await pool.request(address, method, target, list(headers), body, **kw)


def test_requests_are_sent_as_given_and_connections_kept_alive():
    async def scenario(pool, address, upstream):
        answer = await get(
            pool,
            address,
            "/restaurants/a%2Fb/../x?q=%7e",
            headers=[("host", "gateway.test"), ("authorization", "Bearer t"), ("x-a", "1")],
        )
        assert answer.status == 200
        assert answer.headers == [(b"content-type", b"application/json"), (b"content-length", b"2")]
        assert await answer.read() == b"{}"
        answer = await get(pool, address, "/orders", method="POST", body=b'{"a":1}')
        assert await answer.read() == b"{}"
        answer = await get(pool, address, "/orders/1/pay", method="POST")
        assert await answer.read() == b"{}"
        # One connection carried all three, each request exactly as given (no header added but
        # Host where none was given and the body's length; the target byte for byte).
        assert [number for number, _ in upstream.requests] == [1, 1, 1]
        host = f"host: {address[0]}:{address[1]}".encode()
        assert [request for _, request in upstream.requests] == [
            b"GET /restaurants/a%2Fb/../x?q=%7e HTTP/1.1\r\nhost: gateway.test\r\n"
            b"authorization: Bearer t\r\nx-a: 1\r\n\r\n",
            b"POST /orders HTTP/1.1\r\n" + host + b'\r\ncontent-length: 7\r\n\r\n{"a":1}',
            b"POST /orders/1/pay HTTP/1.1\r\n" + host + b"\r\ncontent-length: 0\r\n\r\n",
        ]

    run(OK, scenario)


@pytest.mark.parametrize(
    "headers",
    [[("x-a", "1\r\nx-injected: 1")], [("x-a", "1\nx")], [("x-a\r\nx", "1")], [("x", "\x00")]],
)
def test_a_line_break_or_nul_in_a_header_is_never_sent(headers):
    async def scenario(pool, address, upstream):
        with pytest.raises(ValueError):
            await get(pool, address, headers=headers)
        assert upstream.requests == [] and upstream.connections == 0

    run(OK, scenario)


def test_chunked_and_large_answers_arrive_whole_and_large_ones_are_read_with_pauses():
    big = bytes(range(256)) * (16 * 1024)  # 4 MiB

    def answer(request):
        if b"/chunked" in request:
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big

    async def scenario(pool, address, upstream):
        answer = await get(pool, address, "/chunked")
        assert answer.content_length is None and await answer.read() == b"abcde"
        answer = await get(pool, address, "/big")
        assert answer.content_length == len(big)
        connection = answer._connection
        received, largest = [], 0
        async for chunk in answer.chunks():
            received.append(chunk)
            largest = max(largest, len(chunk))
            await asyncio.sleep(0)  # a slow reader: the connection must stop reading
        assert b"".join(received) == big
        # Never much more than HIGH_WATER held at once (one socket read may pass it).
        assert largest <= HIGH_WATER + 256 * 1024
        assert connection.closed is False
        # Both answers were complete: the same connection serves the next request.
        answer = await get(pool, address, "/chunked")
        await answer.read()
        assert [number for number, _ in upstream.requests] == [1, 1, 1]

    run(answer, scenario)


def test_a_head_answer_ends_with_its_head_and_its_connection_is_not_reused():
    def answer(request):
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

    async def scenario(pool, address, upstream):
        started = time.monotonic()
        answer = await get(pool, address, method="HEAD")
        assert (answer.status, await answer.read()) == (200, b"")
        assert time.monotonic() - started < 0.5  # not waiting for 1,000 bytes that never come
        answer = await get(pool, address, method="HEAD")
        await answer.read()
        assert [number for number, _ in upstream.requests] == [1, 2]

    run(answer, scenario)


def test_no_content_answers_and_continue_before_the_answer():
    def answer(request):
        if b"/continue" in request:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + OK
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async def scenario(pool, address, upstream):
        answer = await get(pool, address, "/empty", method="PUT", body=b"x")
        assert (answer.status, await answer.read()) == (204, b"")
        answer = await get(pool, address, "/continue")
        assert (answer.status, await answer.read()) == (200, b"{}")
        assert [number for number, _ in upstream.requests] == [1, 1]

    run(answer, scenario)


def test_a_refused_connection_is_connect_failed():
    async def scenario(pool, address, upstream):
        upstream.server.close()
        await upstream.server.wait_closed()
        with pytest.raises(ConnectFailed):
            await get(pool, address)

    run(OK, scenario)


def test_a_connection_dropped_before_the_answer_is_dropped():
    async def drop(reader, writer):
        return "close"

    async def scenario(pool, address, upstream):
        with pytest.raises(Dropped):
            await get(pool, address)

    run(lambda request: drop, scenario)


def test_no_answer_within_the_read_timeout_is_read_timed_out():
    async def stall(reader, writer):
        await asyncio.sleep(5)

    async def scenario(pool, address, upstream):
        started = time.monotonic()
        with pytest.raises(ReadTimedOut):
            await get(pool, address, read_timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2

    run(lambda request: stall, scenario)


def test_a_body_cut_off_or_stalled_is_a_broken_answer_or_a_timeout():
    def answer(request):
        async def cut(reader, writer):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            if b"/stall" in request:
                await asyncio.sleep(5)
            return "close"

        return cut

    async def scenario(pool, address, upstream):
        answer = await get(pool, address, "/cut")
        with pytest.raises(BrokenAnswer):
            await answer.read()
        answer = await get(pool, address, "/stall", read_timeout=0.2)
        with pytest.raises(ReadTimedOut):
            await answer.read()

    run(answer, scenario)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ],
)
def test_what_is_not_an_http_answer_is_a_bad_answer(raw):
    async def scenario(pool, address, upstream):
        with pytest.raises(BadAnswer):
            await get(pool, address)

    run(raw, scenario)


def head_with(headers: list[bytes]) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"Content-Length: 2\r\n\r\n{}"
    )


def test_a_head_within_the_limits_is_read():
    # MAX_HEADERS in all with Content-Length; as many header bytes as allowed, less a margin;
    # MAX_INFORMATIONAL 1xx answers before the answer.
    answers = {
        b"/many": head_with([b"X-N%d: v" % n for n in range(MAX_HEADERS - 1)]),
        b"/big": head_with([b"X-Big: " + b"a" * (MAX_HEAD_BYTES - 1000)]),
        b"/continues": b"HTTP/1.1 100 Continue\r\n\r\n" * MAX_INFORMATIONAL + OK,
    }

    async def scenario(pool, address, upstream):
        for path in answers:
            answer = await get(pool, address, path.decode())
            assert (answer.status, await answer.read()) == (200, b"{}")

    run(lambda request: answers[request.split(b" ")[1]], scenario)


@pytest.mark.parametrize(
    "raw",
    [
        head_with([b"X-N%d: v" % n for n in range(MAX_HEADERS)]),  # one header too many
        head_with([b"X-Big: " + b"a" * MAX_HEAD_BYTES]),  # one header too large, in one write
        b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INFORMATIONAL + 1) + OK,  # one 1xx too many
    ],
    ids=["too-many-headers", "too-large-header", "too-many-informational-answers"],
)
def test_an_answer_head_over_the_limits_is_a_bad_answer(raw):
    async def scenario(pool, address, upstream):
        with pytest.raises(BadAnswer, match="over|more than"):
            await get(pool, address)

    run(raw, scenario)


def test_a_head_dripped_past_the_limit_is_a_bad_answer_before_the_read_timeout():
    async def drip(reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        with contextlib.suppress(ConnectionError):
            for _ in range(MAX_HEAD_BYTES // 1024 + 2):
                writer.write(b"a" * 1024)
                await writer.drain()
                await asyncio.sleep(0.001)
            await asyncio.sleep(5)
        return "close"

    async def scenario(pool, address, upstream):
        started = time.monotonic()
        with pytest.raises(BadAnswer, match="over"):
            await get(pool, address, read_timeout=5.0)
        assert time.monotonic() - started < 4

    run(lambda request: drip, scenario)


def test_an_answer_framed_by_the_connection_closing_is_read_to_the_end():
    async def until_close(reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        writer.write(b"all of it")
        await writer.drain()
        return "close"

    async def scenario(pool, address, upstream):
        answer = await get(pool, address)
        assert answer.content_length is None and await answer.read() == b"all of it"
        answer = await get(pool, address)
        await answer.read()
        assert [number for number, _ in upstream.requests] == [1, 2]

    run(lambda request: until_close, scenario)


def test_connection_close_or_stray_bytes_after_an_answer_mean_a_new_connection():
    def answer(request):
        if b"/close" in request:
            return OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
        return OK + b"HTTP/1.1 200 OK\r\n"  # a second answer nobody asked for

    async def scenario(pool, address, upstream):
        for target in ("/close", "/stray", "/stray"):
            answer = await get(pool, address, target)
            assert (answer.status, await answer.read()) == (200, b"{}")
        assert [number for number, _ in upstream.requests] == [1, 2, 3]

    run(answer, scenario)


def test_a_connection_the_upstream_closed_while_idle_is_not_used_again():
    async def scenario(pool, address, upstream):
        await (await get(pool, address)).read()
        for writer in upstream.writers:
            writer.close()
        await asyncio.sleep(0.1)  # the FIN arrives
        answer = await get(pool, address)
        assert await answer.read() == b"{}"
        assert [number for number, _ in upstream.requests] == [1, 2]

    run(OK, scenario)


def test_idle_connections_older_than_the_keepalive_are_replaced():
    async def scenario(pool, address, upstream):
        await (await get(pool, address)).read()
        await asyncio.sleep(0.3)
        await (await get(pool, address)).read()
        assert [number for number, _ in upstream.requests] == [1, 2]

    run(OK, scenario, keepalive=0.2)


def test_an_old_answer_closed_late_never_releases_the_next_exchange():
    async def scenario(pool, address, upstream):
        first = await get(pool, address)
        await first.read()
        second = await get(pool, address)  # the same connection, busy again
        assert second._connection is first._connection
        first.close()
        assert second._connection.busy
        assert await second.read() == b"{}"

    run(OK, scenario)


def test_at_most_limit_connections_per_upstream_and_the_next_request_waits_for_one():
    async def scenario(pool, address, upstream):
        first = await get(pool, address)
        waiting = asyncio.ensure_future(get(pool, address))
        await asyncio.sleep(0.1)
        assert not waiting.done() and upstream.connections == 1
        await first.read()  # the connection is free: the waiting request takes it
        second = await asyncio.wait_for(waiting, 1)
        assert await second.read() == b"{}"
        assert [number for number, _ in upstream.requests] == [1, 1]

    run(OK, scenario, limit_per_host=1)
