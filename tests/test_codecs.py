"""App(codec=...): every stored payload goes through the codec (zlib ships; a Fernet
encryption codec is a few lines), on every store and in both orchestrator forms; a
reader without the codec shows encoded payloads as such instead of failing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.fernet import Fernet

import durably
from durably.backends.base import Backend
from durably.codecs import ZlibCodec
from tests.cli.helpers import durably_command
from tests.orchestrator_forms import orchestrator_form

__all__ = ["orchestrator_form"]


class FernetCodec:
    """Encrypts payloads (the codec docs/typed-payloads.md shows)."""

    name = "fernet"

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encode(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decode(self, data: bytes) -> bytes:
        return self._fernet.decrypt(data)


SECRET = "card 4111-1111-1111-1111"


def _app(codec: Any) -> durably.App:
    app = durably.App(codec=codec)

    @app.activity
    def mask(card: str) -> str:
        return card[:5] + "****"

    @app.orchestrator
    def pay(context: durably.OrchestrationContext) -> Any:
        context.set_custom_status({"paying": context.get_input()})
        masked = yield context.call_activity(mask, context.get_input())
        event = yield context.wait_for_external_event("receipt")
        return {"masked": masked, "receipt": event, "card": context.get_input()}

    return app


@pytest.mark.usefixtures("orchestrator_form")
@pytest.mark.parametrize(
    "codec", [ZlibCodec(), FernetCodec(Fernet.generate_key())], ids=["zlib", "fernet"]
)
def test_every_payload_goes_through_the_codec(backend: Backend, codec: Any) -> None:
    app = _app(codec)
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        instance_id = client.start_new("pay", "p1", SECRET)
        client.raise_event(instance_id, "receipt", {"secret": SECRET})
        status = client.wait_for_completion(instance_id, timeout=30)
        assert status.output == {
            "masked": "card ****",
            "receipt": {"secret": SECRET},
            "card": SECRET,
        }
        full = client.get_status(instance_id, show_history=True, show_history_output=True)
    assert full is not None and full.input_ == SECRET
    assert full.custom_status == {"paying": SECRET}
    # Stored: nothing of the payloads in clear (for the encrypting codec), every one marked.
    raw = backend.get_instance(instance_id)
    assert raw is not None
    for text in (raw.input, raw.output, raw.custom_status):
        assert text is not None and json.loads(text)["$codec"] == codec.name
    stored_history = [event.to_json() for event in backend.get_history(instance_id)]
    if codec.name == "fernet":
        assert not any("4111" in text for text in stored_history)
    # A reader without the codec (no app) shows what encoded them, and does not fail.
    bare = durably.Client(backend).get_status(instance_id)
    assert bare is not None and bare.output["$codec"] == codec.name


def test_a_payload_of_another_codec_is_refused_by_name(backend: Backend) -> None:
    with durably.Client(backend, app=_app(ZlibCodec())) as writer:
        writer.start_new("pay", "z1", SECRET)
    reader = durably.Client(backend, app=_app(FernetCodec(Fernet.generate_key())))
    with pytest.raises(ValueError, match=r"encoded with codec 'zlib'.*this app's codec 'fernet'"):
        reader.get_status("z1")


def test_the_cli_shows_encoded_payloads_as_such(tmp_path: Any) -> None:
    store = f"sqlite:///{tmp_path / 'codec.db'}"
    with durably.Client(store, app=_app(ZlibCodec())) as client:
        client.start_new("pay", "c1", SECRET)
    shown = durably_command("status", "c1", store=store)
    assert shown.code == 0 and '"$codec": "zlib"' in shown.out
    listed = durably_command("status", "c1", "--json", store=store)
    assert json.loads(listed.out)["input"]["$codec"] == "zlib"


def test_a_codec_must_look_like_one() -> None:
    with pytest.raises(TypeError, match="codec must have a name and encode/decode methods"):
        durably.App(codec=object())  # type: ignore[arg-type]
