"""The deployment examples in deploy/ are correct as far as this machine can tell without
Docker or systemd running: the Dockerfile's command and health check run as a script
(its CMD serves, its HEALTHCHECK passes against it, SIGTERM stops it cleanly), every
command they start is a real `smsbridge` command, every setting they set exists, the
systemd unit passes `systemd-analyze verify`, and the compose file is valid YAML wired to
its PostgreSQL. Building the image needs a Docker daemon and is not done here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bridge.cli import build_parser
from bridge.config import Settings
from bridge.config_docs import rows

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
SETTINGS = {env for env, _default, _meaning in rows()}
# Variables for Python, pip and matplotlib themselves, not smsbridge settings.
RUNTIME_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "MPLCONFIGDIR"}
WAIT = 120.0  # an upper bound on start-up on a busy machine, never a measured time


def _instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def _env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def _is_smsbridge_command(argv: list[str]) -> None:
    """The argv a deployment starts names a real `smsbridge` command and options."""
    assert Path(argv[0]).name == "smsbridge", argv
    build_parser().parse_args(argv[1:])  # SystemExit(2) on an unknown command or option


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_dockerfile_is_slim_non_root_and_sets_only_real_settings() -> None:
    steps = _instructions(DEPLOY / "Dockerfile")
    kinds = [kind for kind, _ in steps]
    assert re.fullmatch(r"python:3\.1[1-9]+-slim", dict(steps)["FROM"])
    assert dict(steps)["USER"] not in ("root", "0") and kinds.index("USER") < kinds.index("CMD")
    for kind, args in steps:
        if kind == "COPY":
            for source in shlex.split(args)[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    env = {k: v for kind, args in steps if kind == "ENV" for k, v in _env_pairs(args).items()}
    assert set(env) - RUNTIME_ENV <= SETTINGS, f"not settings: {set(env) - RUNTIME_ENV - SETTINGS}"
    volume = yaml.safe_load(dict(steps)["VOLUME"])[0]
    database = Settings(database_url=env["DATABASE_URL"]).database_url
    assert database.startswith("sqlite+aiosqlite:////") and database.split("///", 1)[1].startswith(volume + "/")
    assert env["SMSBRIDGE_CONFIG"].startswith(volume + "/")
    assert "/healthz" in dict(steps)["HEALTHCHECK"]
    _is_smsbridge_command(yaml.safe_load(dict(steps)["CMD"]))


def test_the_dockerfiles_command_serves_and_its_health_check_passes(tmp_path: Path) -> None:
    """The image's CMD and HEALTHCHECK, run as a script on this machine: /data is a
    temporary folder, the environment only the Dockerfile's."""
    steps = _instructions(DEPLOY / "Dockerfile")
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v.replace("/data", str(data)) for kind, args in steps if kind == "ENV" for k, v in _env_pairs(args).items()}
    env |= {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PORT": str(_free_port())}
    cmd = yaml.safe_load(dict(steps)["CMD"])
    health = dict(steps)["HEALTHCHECK"].split(" CMD ", 1)[1]

    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + WAIT
        while subprocess.run(["sh", "-c", health], env=env, capture_output=True).returncode != 0:
            assert server.poll() is None, f"smsbridge run stopped: {server.communicate()[0]}"
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        assert (data / "smsbridge.db").exists()  # the SQLite file is in the volume
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends
        output = server.communicate(timeout=WAIT)[0]
        assert server.returncode == 0, output
        assert "Traceback" not in output
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            sections[current].append((key, value))
    return sections


def test_the_systemd_unit_starts_a_real_command_with_real_settings(tmp_path: Path) -> None:
    service = _unit(DEPLOY / "smsbridge.service")["Service"]
    [exec_start] = [shlex.split(v) for k, v in service if k == "ExecStart"]
    assert exec_start[0] == "/opt/smsbridge/.venv/bin/smsbridge"
    _is_smsbridge_command(exec_start)
    names = {v.split("=", 1)[0] for k, v in service if k == "Environment"}
    assert names and names <= SETTINGS, f"not settings: {names - SETTINGS}"
    assert dict(service)["User"] != "root" and dict(service)["Restart"] == "on-failure"
    state = dict(service)["StateDirectory"]
    database = dict(v.split("=", 1) for k, v in service if k == "Environment")["DATABASE_URL"]
    assert f"/var/lib/{state}/" in database and dict(service)["WorkingDirectory"] == f"/var/lib/{state}"

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax was not verified")
    unit = tmp_path / "smsbridge.service"
    unit.write_text((DEPLOY / "smsbridge.service").read_text().replace("/opt/smsbridge/.venv/bin/smsbridge", str(VENV_BIN / "smsbridge")))
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr


def test_the_procfile_runs_migrate_then_serves_on_the_platforms_port() -> None:
    processes = dict(line.split(":", 1) for line in (DEPLOY / "Procfile").read_text().splitlines() if line.strip())
    assert set(processes) == {"release", "web"}
    for command in processes.values():
        _is_smsbridge_command(shlex.split(command.replace("$PORT", "5000")))
    assert build_parser().parse_args(shlex.split(processes["web"].replace("$PORT", "5000"))[1:]).port == 5000
    # Platforms hand out postgres:// URLs; smsbridge reads them with asyncpg.
    assert Settings(database_url="postgres://u:p@host:5432/db").database_url == "postgresql+asyncpg://u:p@host:5432/db"


def test_the_compose_file_runs_smsbridge_on_its_postgresql() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    app, db = services["smsbridge"], services["db"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert set(app["environment"]) <= SETTINGS
    url = Settings(database_url=re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", app["environment"]["DATABASE_URL"])).database_url
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg" and parts.hostname == "db" and parts.path == "/" + db["environment"]["POSTGRES_DB"]
    assert parts.username == db["environment"]["POSTGRES_USER"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy" and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "8080:8080" in app["ports"] and any(v.endswith(":/data") for v in app["volumes"])
    assert set(compose["volumes"]) == {v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", [])}
    assert os.path.normpath(DEPLOY / app["env_file"]) == str(ROOT / ".env")  # where `smsbridge init` writes it
