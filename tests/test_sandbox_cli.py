"""`smsbridge sandbox` as a user starts it, in a folder that holds a real configuration:
it prints the URL to open, serves the page there, leaves the real `.env` and database
alone, names a port in use with a free one to try, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIT = 120.0  # an upper bound on start-up on a busy machine, never a measured time


def _sandbox(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": "sqlite+aiosqlite:///real-env.db", "TWILIO_AUTH_TOKEN": "real-env-secret"}
    return subprocess.Popen([sys.executable, "-m", "bridge", "sandbox", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_sandbox_prints_its_url_ignores_a_real_configuration_and_names_a_port_in_use(tmp_path: Path) -> None:
    real_env = "DATABASE_URL=sqlite+aiosqlite:///smsbridge.db\nTWILIO_AUTH_TOKEN=real-secret\nSMSBRIDGE_NUMBER=+14155550100\n"
    (tmp_path / ".env").write_text(real_env)
    (tmp_path / "smsbridge.db").write_bytes(b"the real database")
    (tmp_path / "smsbridge.toml").write_text('[[inbox]]\nname = "real"\nnumber = "+14155550199"\n')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    first = _sandbox(tmp_path, "--port", "0", "--data", str(tmp_path / "sandbox-data"))
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        url = re.match(r"smsbridge sandbox: open (http://127\.0\.0\.1:(\d+)/)", line)
        assert url is not None, line + (first.stderr.read() if first.poll() is not None and first.stderr else "")
        with urllib.request.urlopen(url.group(1), timeout=WAIT) as page:
            assert page.status == 200 and "smsbridge sandbox" in page.read().decode()

        port = int(url.group(2))
        second = _sandbox(tmp_path, "--port", str(port))
        _out, err = second.communicate(timeout=WAIT)
        assert second.returncode == 1
        suggested = re.search(rf"port {port} is in use; try --port (\d+) \(or --port 0 for any\)", err)
        assert suggested is not None and int(suggested.group(1)) > port, err
        assert "Traceback" not in err
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", int(suggested.group(1))))  # a port that was free when named

        first.send_signal(signal.SIGINT)  # Ctrl-C
        first.communicate(timeout=WAIT)
        assert first.returncode == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The real configuration and database are as they were, and nothing was made from them.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "sandbox-data"} == before
    assert sorted(p.name for p in (tmp_path / "sandbox-data").iterdir() if not p.name.startswith("sandbox.db")) == []
