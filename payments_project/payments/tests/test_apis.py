def test_list_needs_a_valid_token(api_client):
    reply = api_client.get("/payments")
    assert reply.status_code == 401
    assert reply.json()["code"] == "not_authenticated"
    assert reply["WWW-Authenticate"].startswith("Bearer")


def test_list_for_an_authenticated_caller_is_a_page(api_client_as):
    reply = api_client_as(5, "customer").get("/payments")
    assert reply.status_code == 200
    assert reply.json() == {"count": 0, "next": None, "previous": None, "results": []}
