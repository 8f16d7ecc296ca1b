"""The `status --json` schema: the validator catches what it must, and docs/cli.md carries exactly
the schema the code validates against. Plus the pure helpers of the CLI (no cluster needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sentinel.cli.client import CliError, Endpoint, Settings, resolve_sources
from sentinel.cli.schema import STATUS_SCHEMA, validate
from sentinel.cli.vip import arp_table, vip_address
from sentinel.core.config import parse_config
from sentinel.runtime.metrics import metrics_address, script_result

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_carry_the_schema_of_the_code() -> None:
    text = DOC.read_text()
    section = text.split("### JSON (`status --json`)", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == STATUS_SCHEMA


def test_validator() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "minimum": 0},
            "b": {"type": ["string", "null"]},
            "c": {"type": "array", "items": {"enum": ["x", "y"]}},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    assert validate({"a": 1, "b": None, "c": ["x"]}, schema) == []
    errors = validate({"a": -1, "c": ["z"], "d": 1}, schema)
    assert "$: missing 'b'" in errors and "$: unexpected 'd'" in errors
    assert "$.a: -1 < 0" in errors and any(e.startswith("$.c[0]:") for e in errors)
    assert validate({"a": True, "b": "s"}, schema) == ["$.a: bool is not integer"]
    assert validate([], schema) == ["$: list is not object"]


def test_endpoint_parsing() -> None:
    assert Endpoint.parse("10.0.0.1:26380") == Endpoint("10.0.0.1", 26380)
    assert Endpoint.parse("h") == Endpoint("h", 26379)
    assert Endpoint.parse("[::1]:7") == Endpoint("::1", 7)
    assert str(Endpoint("::1", 7)) == "[::1]:7"
    with pytest.raises(CliError, match="port must be a number"):
        Endpoint.parse("h:x")


def test_sources_from_config_and_state(tmp_path: Path) -> None:
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port 26390\nbind 10.1.1.1 127.0.0.1\ndir {tmp_path}\nrequirepass pw\n"
        "sentinel monitor m 10.1.1.5 6379 2\nsentinel auth-pass m datapw\n"
    )
    (tmp_path / "sentinel.conf.state.json").write_text(
        json.dumps({"masters": {"m": {"settings": {}, "known_sentinels": [["10.1.1.2", 26379, "b" * 40]]}}})
    )
    src = resolve_sources(Settings(config=conf, sentinels=["10.1.1.3"]))
    assert src.sentinels == {
        Endpoint("10.1.1.1", 26390): {"config"},
        Endpoint("10.1.1.2", 26379): {"state"},
        Endpoint("10.1.1.3", 26379): {"option"},
    }
    assert src.password == "pw" and src.data_password("m") == "datapw"
    assert resolve_sources(Settings(config=conf, password="x", auth_pass="y")).password == "x"
    with pytest.raises(CliError, match="does not exist"):
        resolve_sources(Settings(config=tmp_path / "nope.conf"))


def test_vip_address_sources(tmp_path: Path) -> None:
    assert vip_address("10.0.0.9/24", {}) == ("10.0.0.9", "--vip")
    assert vip_address(None, {"HASENTINEL_VIP": "10.0.0.8"})[0] == "10.0.0.8"
    conf = tmp_path / "vip.conf"
    conf.write_text("vip = 10.0.0.7/24\ninterface = eth0\n")
    assert vip_address(None, {"HASENTINEL_VIP_CONF": str(conf)}) == ("10.0.0.7", str(conf))
    addr, why = vip_address(None, {"HASENTINEL_VIP_CONF": str(tmp_path / "none.conf")})
    assert addr is None and "no VIP configured" in why


def test_arp_table_parsing(tmp_path: Path) -> None:
    t = tmp_path / "arp"
    t.write_text(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "10.0.0.100       0x1         0x2         52:54:00:AA:BB:CC     *        eth0\n"
        "10.0.0.101       0x1         0x0         00:00:00:00:00:00     *        eth0\n"
    )
    assert arp_table(t) == {"10.0.0.100": "52:54:00:aa:bb:cc"}


def test_metrics_directives() -> None:
    assert metrics_address(parse_config("port 1\n")) is None
    assert metrics_address(parse_config("metrics-port 0\n")) is None
    assert metrics_address(parse_config("bind 10.0.0.1 127.0.0.1\nmetrics-port 9120\n")) == ("10.0.0.1", 9120)
    assert metrics_address(parse_config("metrics-port 9120\nmetrics-bind 127.0.0.1\n")) == ("127.0.0.1", 9120)
    assert metrics_address(parse_config("metrics-port 9120\n")) == ("0.0.0.0", 9120)
    with pytest.raises(ValueError, match="Invalid metrics-port"):
        metrics_address(parse_config("metrics-port 70000\n"))
    assert [script_result(0, 0), script_result(1, 0), script_result(2, 0), script_result(0, 9)] == [
        "ok",
        "retry",
        "error",
        "killed",
    ]
