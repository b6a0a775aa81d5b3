"""The command line, run as a real process: settings errors, migrations, health check, invites, areas."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.paths import ROOT


def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL", "ADMIN_", "DEFAULT_"))
    }
    clean["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return clean


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "TELEGRAM_BOT_TOKEN is not a bot token"),
        ("TELEGRAM_BASE_URL", "ftp://x", "TELEGRAM_BASE_URL must start with http:// or https://"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a sqlite:/// or postgresql:// URL"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE must be one of zh_Hans, en"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus", "DEFAULT_TIMEZONE is not a known IANA time zone"),
        ("ADMIN_TELEGRAM_IDS", "12,abc", "ADMIN_TELEGRAM_IDS must be numeric Telegram ids"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR"),
        ("DATABASE_SCHEMA", "Bot; DROP", "DATABASE_SCHEMA must be a lower-case name"),
        ("RETENTION_DAYS", "7", "RETENTION_DAYS must be a whole number of days from 30 to 3650"),
        ("TICK_SECONDS", "fast", "TICK_SECONDS must be a number of seconds from 0.1 to 60"),
        ("OUTBOX_LEASE_SECONDS", "0", "OUTBOX_LEASE_SECONDS must be a number of seconds from 2 to 600"),
        ("WEBHOOK_SECRET", "short", "WEBHOOK_SECRET must be 16 to 256 characters"),
        ("WEBHOOK_URL", "http://bot.example.org", "WEBHOOK_URL must start with https://"),
        ("WEBHOOK_PORT", "eighty", "WEBHOOK_PORT must be a port number"),
    ],
)
def test_a_wrong_setting_is_one_clear_line_and_exit_2(env: dict[str, str], name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({name: value})
    result = cli("check", env={**env, name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr


def test_settings_defaults_and_dotenv(tmp_path: Path) -> None:
    settings = load_settings({})
    assert settings.default_locale == "zh_Hans" and settings.default_timezone == "Asia/Shanghai"
    assert settings.database_url.startswith("sqlite+inline:///") and settings.database_url.endswith("var/guardian.db")
    dotenv = tmp_path / ".env"
    dotenv.write_text("ADMIN_TELEGRAM_IDS=5, 6\nTELEGRAM_BASE_URL=http://127.0.0.1:8081/bot/\n")
    from_file = load_settings(None, env_file=dotenv)
    assert from_file.admin_telegram_ids == frozenset({5, 6})
    assert from_file.telegram_base_url == "http://127.0.0.1:8081/bot"
    assert load_settings({"DATABASE_URL": "postgres://u@h/db"}).database_url == "postgresql+asyncpg://u@h/db"


def test_upgrade_then_check_is_healthy(env: dict[str, str]) -> None:
    before = cli("check", env=env)
    assert before.returncode == 1
    assert "FAIL database reachable and migrated" in before.stdout
    upgraded = cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = cli("check", env=env)
    assert after.returncode == 0, after.stdout
    for name in ("configuration", "database reachable and migrated", "content files valid", "catalogs complete"):
        assert f"ok   {name}" in after.stdout


def test_check_reports_contacts_not_verified_for_180_days(env: dict[str, str], tmp_path: Path) -> None:
    from bot.services.contacts import DEFAULT_CONTACTS_CSV

    rows = DEFAULT_CONTACTS_CSV.read_text(encoding="utf-8").splitlines()
    header, first = rows[0], rows[1]
    old = tmp_path / "old.csv"
    old.write_text(header + "\n" + first.replace("2026-11-29", "2025-01-02") + "\n", encoding="utf-8")
    assert cli("admin", "contacts", "import", str(old), env=env).returncode == 0
    result = cli("check", env=env)
    assert result.returncode == 0, result.stdout  # work for an administrator, not a broken installation
    assert "warn 1 contact(s) last verified more than 180 days ago:" in result.stdout
    assert "cn-110-police" in result.stdout


def test_admin_invite_prints_a_single_use_code_and_link(env: dict[str, str]) -> None:
    result = cli("admin", "invite", "--post", "child-director", "--area", "451321-02-S1", env=env)
    assert result.returncode == 0, result.stderr
    assert re.search(r"code:\s+[A-Z0-9]{5}-[A-Z0-9]{5}", result.stdout)
    assert re.search(r"start=[A-Z0-9]{10}", result.stdout)
    wrong = cli("admin", "invite", "--post", "child-director", "--area", "451321-02", env=env)
    assert wrong.returncode == 2 and "wrong_area_level" in wrong.stderr


def test_areas_import_reports_file_and_line_and_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,parent_code,level,name_zh,name_en,sample\n"
        "450000,,county,某县,Some County,0\n"
        "450000-01,450000,township,甲镇,Jia Town,0\n"
        "450000-01-01,450000-09,village,乙村,Yi Village,0\n"
        "450000-01-02,450000-01,hamlet,丙村,Bing Village,0\n",
        encoding="utf-8",
    )
    result = cli("admin", "areas", "import", str(bad), env=env)
    assert result.returncode == 1
    assert f"{bad}:4:" in result.stderr and f"{bad}:5:" in result.stderr
    assert "nothing was imported" in result.stderr
    exported = cli("admin", "areas", "export", env=env)
    assert "450000" not in exported.stdout and "451321" in exported.stdout

    good = tmp_path / "good.csv"
    good.write_text(
        "code,parent_code,level,name_zh,name_en,sample\n"
        "450000,,county,某县,Some County,0\n"
        "450000-01,450000,township,甲镇,Jia Town,0\n"
        "450000-01-01,450000-01,village,乙村,Yi Village,0\n",
        encoding="utf-8",
    )
    imported = cli("admin", "areas", "import", str(good), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "3 created" in imported.stdout
    assert "450000-01-01" in cli("admin", "areas", "export", env=env).stdout


def test_no_console_and_no_demo_on_a_production_database(env: dict[str, str]) -> None:
    pg = {**env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    for args in (("run",), ("console", "--demo")):
        result = cli(*args, env=pg)
        assert result.returncode == 2
        assert "embedded SQLite database only" in result.stderr
    # A database with real people in it gets no made-up caseworkers.
    assert cli("db", "upgrade", env=env).returncode == 0
    import sqlite3

    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO app_user (telegram_id, chat_id, locale, timezone, unreachable, created_at) "
            "VALUES (12345, 12345, 'zh_Hans', 'Asia/Shanghai', 0, '2026-01-01 00:00:00')"
        )
    seeded = cli("demo", "seed", env=env)
    assert seeded.returncode == 1 and "real account" in seeded.stderr


def test_contacts_import_reports_bad_rows_and_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    from bot.services.contacts import COLUMNS

    good = "gx-test,测试热线,Test line,hotline,protection,GX,12345,24h,,,帮忙,Helps,brief,2026-11-29,0"
    bad = tmp_path / "contacts.csv"
    bad.write_text(
        ",".join(COLUMNS)
        + "\n"
        + good
        + "\n"
        + good.replace("gx-test", "bad-phone").replace(",12345,", ",call me,")
        + "\n"
        + good.replace("gx-test", "bad-category").replace(",protection,", ",gossip,")
        + "\n"
        + good.replace("gx-test", "bad-area").replace(",GX,", ",999999,")
        + "\n",
        encoding="utf-8",
    )
    before = cli("admin", "contacts", "export", env=env).stdout
    result = cli("admin", "contacts", "import", str(bad), env=env)
    assert result.returncode == 1
    for line in (3, 4, 5):
        assert f"{bad}:{line}:" in result.stderr
    assert "nothing was imported" in result.stderr
    after = cli("admin", "contacts", "export", env=env).stdout
    assert after == before and "gx-test" not in after


def test_webhook_mode_needs_its_secret(env: dict[str, str]) -> None:
    result = cli("run", "--webhook", env={**env, "TELEGRAM_BOT_TOKEN": "123456:ABCDEF"})
    assert result.returncode == 2
    assert "webhook mode needs TELEGRAM_BOT_TOKEN and WEBHOOK_SECRET" in result.stderr
