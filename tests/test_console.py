"""The offline console as people use it: a real `guardian-bot console` process fed line by line.

The family journey reads the printed button numbers instead of hard-coding them, and writes each next
line only after the output it depends on has appeared, so a grandmother and a father can share one run.
"""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

import bot.console
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
STEP_SECONDS = 30  # generous per step; a healthy step takes well under a second
RUN_SECONDS = 120
_BUTTON = re.compile(r"\[(\d+)\] (.*?)(?=  \[|$)")


def _env(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update(DATABASE_URL=f"sqlite:///{db_path}", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "console", *args]


def button_number(lines: list[str], label: str) -> int:
    """The number printed for the newest button whose label contains `label`."""
    for line in reversed(lines):
        for match in _BUTTON.finditer(line):
            if label in match.group(2):
                return int(match.group(1))
    raise AssertionError(f"no numbered button {label!r} in:\n" + "\n".join(lines))


class ConsoleProcess:
    """`guardian-bot console` with pipes; stdout is read by a thread so waits can time out."""

    def __init__(self, db_path: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            _command(*args),
            cwd=ROOT,
            env=_env(db_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.who = "grandma"
        self.transcript: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, wanted: str, *, exact: bool = False) -> list[str]:
        """Lines read up to and including the first one containing (or equal to) `wanted`."""
        got: list[str] = []
        deadline = time.monotonic() + STEP_SECONDS
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {wanted!r}; got:\n" + "\n".join(got)) from None
            if line is None:
                raise AssertionError(f"console ended before {wanted!r}; got:\n" + "\n".join(got))
            got.append(line)
            self.transcript.append(line)
            if line == wanted if exact else wanted in line:
                return got

    def write(self, line: str) -> list[str]:
        """Type a line; returns what was printed before its echo (the end of the previous step)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        before = self.until(f"{self.who}> {line}", exact=True)[:-1]
        if line.startswith("/as "):
            self.who = line.split()[1]
        return before

    def step(self, line: str, expect: str | None = None) -> list[str]:
        """Type a line and, if given, wait for `expect` in its output; returns that output."""
        self.write(line)
        return self.until(expect) if expect else []

    def press(self, lines: list[str], label: str, expect: str | None = None) -> list[str]:
        return self.step(str(button_number(lines, label)), expect)

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=STEP_SECONDS)
        while (line := self._lines.get(timeout=STEP_SECONDS)) is not None:
            self.transcript.append(line)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleProcess]:
    proc = ConsoleProcess(tmp_path / "console.db", "--demo")
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(timeout=STEP_SECONDS)
        proc.reader.join(timeout=STEP_SECONDS)  # ends at end of output, before its pipe is closed
        # Closed here, or an unclosed pipe becomes a ResourceWarning (an error) in a later test.
        for stream in (proc.proc.stdin, proc.proc.stdout, proc.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def test_grandmother_sets_up_and_father_joins(console: ConsoleProcess) -> None:
    console.until("/quit leaves.")
    console.step("/as grandma en", "now grandma")

    out = console.step("/start", "English")
    out = console.press(out, "English", "I look after a child")
    out = console.press(out, "I look after a child", "I agree")
    out = console.press(out, "I agree", "No, I will set it up now")
    out = console.press(out, "No, I will set it up now", "Datang Town")
    out = console.press(out, "Datang Town", "Datang Village 1 (sample)")
    out = console.press(out, "Datang Village 1 (sample)", "Grandmother")
    console.press(out, "Grandmother")
    out = console.step("Xiaoming", "2018")
    out = console.press(out, "2018", "Mar")
    out = console.press(out, "Mar", "Skip")
    out = console.press(out, "Skip", "That is all")
    out = console.press(out, "That is all", "Not now")
    out = console.press(out, "Not now", "Your family code")
    found = re.search(r"Your family code: ([A-Z0-9]{5}-[A-Z0-9]{5})", out[-1])
    assert found, out[-1]  # the <code> tag is stripped for the terminal
    code = found.group(1)

    # The menu follows the code; it is printed before father's first line is echoed.
    menu = console.write("/as father en")
    numbers = [int(m.group(1)) for line in menu for m in _BUTTON.finditer(line)]
    assert max(numbers, default=0) >= 4, menu
    console.until("now father")

    out = console.step("/start", "English")
    out = console.press(out, "English", "I am a parent working away")
    out = console.press(out, "I am a parent working away", "I agree")
    out = console.press(out, "I agree", "Yes, they gave me a code")
    console.press(out, "Yes, they gave me a code")
    out = console.step(code, "Father")
    out = console.press(out, "Father", "📨 to grandma:")
    assert any("I agree, as the parent" in line for line in out), out
    out = console.press(out, "I agree, as the parent", "📨 to grandma:")

    status, stderr = console.finish()
    transcript = "\n".join(console.transcript)
    assert status == 0, transcript + stderr
    assert "‼️" not in transcript, transcript


def test_end_of_input_exits_cleanly(tmp_path: Path) -> None:
    done = subprocess.run(
        _command(),
        cwd=ROOT,
        env=_env(tmp_path / "eof.db"),
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/quit" in done.stdout


def test_wrong_numbers_print_an_error_and_the_console_goes_on(tmp_path: Path) -> None:
    script = "7\n/start\n500\n/who\n/quit\n/start\n"
    done = subprocess.run(
        _command(),
        cwd=ROOT,
        env=_env(tmp_path / "garbage.db"),
        input=script,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "grandma> 7\n‼️ grandma has no message with buttons" in out
    assert "grandma> 500\n‼️ no button 500" in out
    # It went on: the language screen after the bad press, /who after the second, and /quit stopped it.
    assert "English" in out.split("grandma> 500")[0]
    assert "* grandma (Telegram id 900000000001001" in out
    assert out.count("grandma> /start") == 1


async def test_a_failing_handler_is_reported_and_the_console_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = bot.console.build_application

    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("boom")

    def build_with_a_bug(*args: object, **kwargs: object) -> Application:  # type: ignore[type-arg]
        app = real_build(*args, **kwargs)  # type: ignore[arg-type]
        app.add_handler(MessageHandler(filters.Regex("^boom$"), boom), group=-3)
        return app

    monkeypatch.setattr(bot.console, "build_application", build_with_a_bug)
    settings = Settings(database_url=f"sqlite+inline:///{tmp_path / 'boom.db'}")
    out = io.StringIO()
    status = await bot.console.console_main(settings, False, io.StringIO("boom\n/start\n"), out)
    text = out.getvalue()
    assert status == 1, text
    # The failing handler sits before the bot's own, which still answer; then the error is shown.
    assert "‼️ error: RuntimeError" in text.split("grandma> boom")[1].split("grandma> /start")[0]
    assert "English" in text.split("grandma> /start")[1]


def test_the_readme_walkthrough_replays(tmp_path: Path) -> None:
    """docs/walkthrough.txt, shown in the README, still runs end to end."""
    script = (ROOT / "docs" / "walkthrough.txt").read_text(encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'walk.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", "--demo"],
        cwd=ROOT,
        env=env,
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "‼️" not in result.stdout
    assert "📨 to grandma: 👋 孩子的爸爸已加入您家的页面。" in result.stdout
    assert "✅ 已认证：大塘镇大塘一村（示例）儿童主任" in result.stdout
