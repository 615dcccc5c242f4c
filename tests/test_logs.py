"""The JSON log lines of `dialog serve` (dialog/channels/logs.py): fields, trace id, masking."""

from __future__ import annotations

import io
import json
import logging
import re

from dialog.channels.logs import JsonFormatter, trace_id


def test_a_log_line_is_one_json_object_with_the_documented_fields_and_no_secret() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets=["hunter2-secret"]))
    log = logging.getLogger("tests.logs")
    log.addHandler(handler)
    log.propagate = False
    token = trace_id.set("trace-77")
    try:
        log.warning("sent %s 你好 hunter2-secret", "x", extra={"path": "/wechat", "status": 200,
                    "url": "https://api/cgi-bin/token?appsecret=abc&access_token=T0KEN&x=1"})  # fmt: skip
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        trace_id.reset(token)
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first["level"] == "warning" and first["logger"] == "tests.logs" and first["trace_id"] == "trace-77"
    assert first["msg"] == "sent x 你好 ********" and first["path"] == "/wechat" and first["status"] == 200
    assert first["url"] == "https://api/cgi-bin/token?appsecret=********&access_token=********&x=1"
    assert not {"args", "levelno", "pathname", "exc"} & first.keys()
    assert second["level"] == "error" and "ValueError: boom" in second["exc"]
