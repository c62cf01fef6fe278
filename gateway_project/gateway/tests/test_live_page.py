"""GET /live: the example client of the live updates, a static page the gateway serves itself
(tests/test_live.py drives it in a real browser)."""


def test_the_live_page_is_served_to_anyone(client):
    page = client.get("/live")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    # It logs in, then opens /ws/live with the token in Sec-WebSocket-Protocol, never in the URL.
    assert '"/auth/login"' in html and '"/auth/refresh"' in html
    assert '/ws/live${after}`, ["bearer", state.access]' in html
