"""One JSON error shape; bad input is a 4xx with field messages, never a 500."""


def test_validation_error_shape(client, world):
    r = client.post(
        "/api/v1/care/patients",
        headers=world.headers(world.clinician_a),
        json={"email": "not-an-email", "display_name": "", "timezone": 5, "surprise": True},
    )
    assert r.status_code == 422
    assert set(r.json) == {"status", "code", "message", "errors"}
    assert r.json["status"] == 422 and r.json["code"] == "validation_error"
    fields = r.json["errors"]["json"]
    assert set(fields) == {"email", "display_name", "timezone", "surprise"}
    assert fields["surprise"] == ["Unknown field."]


def test_malformed_json_is_4xx(client, world):
    r = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert 400 <= r.status_code < 500 and r.json["status"] == r.status_code


def test_a_body_that_is_not_json_is_415_and_changes_nothing(client, world):
    before = client.get("/api/v1/me", headers=world.headers(world.patient_a)).json
    r = client.patch(
        "/api/v1/me",
        data='{"display_name": "Changed"}',
        headers=world.headers(world.patient_a) | {"Content-Type": "text/plain"},
    )
    assert r.status_code == 415 and r.json["code"] == "unsupported_media_type"
    assert client.get("/api/v1/me", headers=world.headers(world.patient_a)).json == before


def test_body_over_the_limit_is_413(client, world, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/api/v1/auth/login", json={"email": "a@example.org", "password": "x" * 5000})
    assert r.status_code == 413 and r.json["code"] == "payload_too_large"


def test_unknown_route_and_method_are_json(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = client.delete("/api/v1/auth/login")
    assert r.status_code == 405 and r.json["code"] == "method_not_allowed"


def test_unexpected_exception_is_a_json_500_without_details(client, world, monkeypatch):
    import api.me.routes

    def boom(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.me.routes, "_me", boom)
    app = client.application
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = client.get("/api/v1/me", headers=world.headers(world.patient_a))
    assert r.status_code == 500 and r.json["code"] == "internal_error"
    assert "secret" not in r.get_data(as_text=True)
