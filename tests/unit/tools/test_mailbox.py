import asyncio
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from shared.net import free_port
from tools.mailbox import Keeper, page


def test_the_local_mailbox_keeps_mail_as_eml_and_lists_it(tmp_path: Path) -> None:
    port = free_port()
    controller = Controller(Keeper(tmp_path), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = EmailMessage()
        message["From"] = "marketing@leadflow.example"
        message["To"] = "grace@navy.example"
        message["Subject"] = "Welcome <Grace>"
        message.set_content("Hi Grace")
        message.add_alternative("<p>Hi <b>Grace</b></p>", subtype="html")
        asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=port))
    finally:
        controller.stop()
    [kept] = list(tmp_path.glob("*.eml"))
    assert "grace@navy.example" in kept.name
    client = TestClient(page(tmp_path))
    listing = client.get("/").text
    assert "Welcome &lt;Grace&gt;" in listing  # escaped
    shown = client.get(f"/m/{kept.name}").text
    assert "<p>Hi <b>Grace</b></p>" in shown
    assert client.get("/m/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert "Subject: Welcome <Grace>" in client.get(f"/raw/{kept.name}").text
