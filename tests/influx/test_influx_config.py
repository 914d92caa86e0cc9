"""The sink's settings: [influx] in TOML, the environment on top, one clear error when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.errors import ConfigError
from twin.influx import load_influx, parse_influx


def test_the_influx_table_is_read_with_defaults(tmp_path: Path) -> None:
    f = tmp_path / "twin.toml"
    f.write_text('[influx]\nurl = "http://db:8086"\nbucket = "twin"\norg = "lab"\n'
                 'batch_lines = 2000\nspool_dir = "/var/spool/twin"\n')
    cfg = load_influx(f, env={})
    assert (cfg.url, cfg.bucket, cfg.org, cfg.token) == ("http://db:8086", "twin", "lab", "")
    assert cfg.batch_lines == 2000 and cfg.flush_s == 1.0 and cfg.spool_dir == "/var/spool/twin"


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    f = tmp_path / "twin.toml"
    f.write_text('[influx]\nurl = "http://db:8086"\nbucket = "twin"\n')
    env = {"TWIN_INFLUX_URL": "https://other:8086", "TWIN_INFLUX_TOKEN": "s3cret",
           "TWIN_INFLUX_ORG": "ops", "TWIN_INFLUX_BUCKET": "b2"}
    cfg = load_influx(f, env=env)
    assert (cfg.url, cfg.token, cfg.org, cfg.bucket) == ("https://other:8086", "s3cret", "ops",
                                                         "b2")
    only_env = load_influx(None, env=env)
    assert only_env.url == "https://other:8086"


@pytest.mark.parametrize(("table", "key", "expected"), [
    ({"url": "db:8086", "bucket": "b"}, "influx.url", "http:// or https://"),
    ({"url": "http://db", "bucket": "b", "batch_lines": 0}, "influx.batch_lines", ">= 1"),
    ({"url": "http://db", "bucket": "b", "flush_s": "1"}, "influx.flush_s", "a number"),
    ({"url": "http://db", "bucket": "b", "spool": "x"}, "influx.spool", "known keys"),
    ({"url": "http://db"}, "influx.bucket", "present"),
])
def test_a_bad_setting_names_file_key_and_expectation(table: dict, key: str,
                                                      expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_influx(table, "twin.toml", env={})
    assert err.value.key == key and expected in err.value.expected
    assert str(err.value).startswith(f"twin.toml: {key} = ")
