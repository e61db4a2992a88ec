"""The one error body every API error has."""

from __future__ import annotations


def assert_error_shape(body: dict, *, code: str | None = None) -> None:
    assert set(body) == {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], dict)
    for field, messages in body["errors"].items():
        assert isinstance(field, str)
        assert messages and all(isinstance(m, str) for m in messages)
    if code is not None:
        assert body["code"] == code, body
