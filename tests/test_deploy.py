"""Deployment: the embedded run (manage.py runembedded) starts and stops web + worker together."""

from __future__ import annotations

import ast
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from leads.management.commands import runembedded

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PY = ROOT / "leadqual" / "settings.py"
BROKER_DIR = ROOT / "var" / "celery-broker"


# --- helpers ----------------------------------------------------------------------------------


def settings_env_vars() -> set[str]:
    """Every variable name leadqual/settings.py reads: env.<cast>("NAME"), env("NAME"), or a local helper("NAME")."""
    tree = ast.parse(SETTINGS_PY.read_text())
    helpers = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        func = node.func
        reads_env = (
            (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env")
            or (isinstance(func, ast.Name) and func.id == "env")
            or (isinstance(func, ast.Name) and func.id in helpers)
        )
        if reads_env and re.fullmatch(r"[A-Z][A-Z0-9_]*", first.value):
            names.add(first.value)
    return names


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any variable the settings read (CI sets DATABASE_URL, REDIS_URL)."""
    env = {key: value for key, value in os.environ.items() if key not in settings_env_vars()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(PYTHONUNBUFFERED="1", **overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_pids_in_group(pgid: int) -> list[int]:
    """Processes (zombies excluded: nobody may reap them in a container) whose process group is ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(predicate, *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# --- runembedded: unit --------------------------------------------------------------------------


def test_describe_demo_users_accepts_dicts_tuples_and_mappings():
    from leads.roles import Role

    users = [
        {"username": "rep-dach", "password": "pw1", "role": Role.SALES_REP, "team": "DACH"},
        {"username": "manager", "password": "pw2", "role": Role.SALES_MANAGER, "team": None},
    ]
    assert runembedded.describe_demo_users(users) == [
        f"rep-dach / pw1  ({Role.SALES_REP.label}, DACH)",
        f"manager / pw2  ({Role.SALES_MANAGER.label})",
    ]
    assert runembedded.describe_demo_users([("a", "b", "role")]) == ["a / b  (role)"]
    assert runembedded.describe_demo_users({"x": "y"}) == ["x / y"]


def test_banner_lists_demo_logins_and_says_nothing_about_them_without_the_demo_module(monkeypatch):
    out = io.StringIO()
    runembedded.Command(stdout=out)._print_banner("127.0.0.1", 8123, ipv6=False)
    assert "http://127.0.0.1:8123/" in out.getvalue()
    assert "Demo logins" in out.getvalue()

    monkeypatch.setitem(sys.modules, "leads.demo", None)  # makes `from leads.demo import ...` raise ImportError
    out = io.StringIO()
    runembedded.Command(stdout=out)._print_banner("127.0.0.1", 8123, ipv6=False)
    assert "http://127.0.0.1:8123/" in out.getvalue()
    assert "login" not in out.getvalue().lower()


def test_worker_command_is_a_celery_worker_with_embedded_beat_on_both_queues():
    assert runembedded.worker_command() == [
        sys.executable,
        *("-m", "celery", "-A", "leadqual", "worker", "-B", "-c", "2", "-Q", "leadqual,leadqual-routing", "-l", "INFO"),
    ]


# --- runembedded: the real thing -----------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied by each test that runs the embedded stack."""
    path = tmp_path_factory.mktemp("embedded-db") / "template.sqlite3"
    result = manage("migrate", "--noinput", env=clean_env(DATABASE_URL=f"sqlite:///{path}"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.fixture
def embedded_queue() -> Iterator[str]:
    """A queue of its own on the shared filesystem broker; its leftover messages are removed afterwards."""
    queue = f"test-embedded-{uuid.uuid4().hex[:10]}"
    yield queue
    for leftover in [*BROKER_DIR.glob(f"queue/*.{queue}.msg"), BROKER_DIR / "control" / f"{queue}.exchange"]:
        leftover.unlink(missing_ok=True)


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process groups from /proc")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_runembedded_serves_runs_tasks_and_stops_web_and_worker_on_signal(
    stop_signal, migrated_sqlite, embedded_queue, tmp_path
):
    db = tmp_path / "embedded.sqlite3"
    db.write_bytes(migrated_sqlite.read_bytes())
    env = clean_env(DATABASE_URL=f"sqlite:///{db}", CELERY_QUEUE=embedded_queue)
    port = free_port()
    log_path = tmp_path / "runembedded.log"

    def log() -> str:
        return log_path.read_text(errors="replace")

    worker_pid: int | None = None
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runembedded", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a terminal's foreground job is
        )
    try:
        assert wait_for(lambda: healthz_ok(port) or proc.poll() is not None, timeout=90), log()[-3000:]
        assert proc.poll() is None, f"runembedded exited early:\n{log()[-3000:]}"
        assert f"http://127.0.0.1:{port}/" in log()

        match = re.search(r"Celery worker with embedded beat started \(pid (\d+)\)", log())
        assert match, log()[-3000:]
        worker_pid = int(match.group(1))
        assert wait_for(lambda: " ready." in log(), timeout=60), log()[-3000:]

        # A task sent through the filesystem broker reaches the embedded worker.
        sent = subprocess.run(
            [
                sys.executable,
                "-c",
                "from leadqual.celery import app; print(app.send_task('celery.accumulate', args=('ping',)).id)",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr[-3000:]
        task_id = sent.stdout.strip().splitlines()[-1]
        assert wait_for(lambda: f"celery.accumulate[{task_id}] succeeded" in log(), timeout=30), log()[-3000:]

        os.killpg(proc.pid, stop_signal)  # what Ctrl-C in a terminal (or a service manager) does
        stopped_at = time.monotonic()
        assert wait_for(
            lambda: proc.poll() is not None and not live_pids_in_group(worker_pid) and not live_pids_in_group(proc.pid),
            timeout=20,
        ), f"still running after 20 s: {live_pids_in_group(worker_pid)}\n{log()[-3000:]}"
        assert proc.returncode == 0, log()[-3000:]
        assert time.monotonic() - stopped_at < 20
        assert not healthz_ok(port)
    finally:
        for pgid in (proc.pid, worker_pid):
            if pgid and live_pids_in_group(pgid):
                os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=30)


# --- production deployment files ------------------------------------------------------------------


def compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def as_text(command: str | list[str]) -> str:
    return command if isinstance(command, str) else " ".join(command)


def env_example() -> dict[str, str]:
    """NAME=value lines of .env.example; commented-out ones (documented optional variables) count too."""
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            pairs[match.group(1)] = match.group(2)
    return pairs


def test_compose_has_the_production_services_with_healthchecks_and_ordering():
    services = compose_services()
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "pg_isready" in as_text(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in as_text(services["redis"]["healthcheck"]["test"])
    assert "/healthz" in as_text(services["web"]["healthcheck"]["test"])
    # Without persistence a Redis restart loses every queued task.
    assert re.search(r"--appendonly\s+yes\b", as_text(services["redis"]["command"]))
    for name in ("postgres", "redis"):
        assert services[name]["volumes"], f"{name} keeps its data in no volume"

    for name in ("web", "worker", "beat"):
        service = services[name]
        for dependency in ("postgres", "redis"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", (name, dependency)
        assert ".env" in ([service["env_file"]] if isinstance(service["env_file"], str) else service["env_file"])
        assert str(service["environment"]["DEBUG"]) == "False"
    web, worker, beat = (as_text(services[name]["command"]) for name in ("web", "worker", "beat"))
    assert "migrate" in web and "gunicorn leadqual.wsgi" in web
    assert "celery -A leadqual worker" in worker
    assert "celery -A leadqual beat" in beat and "django_celery_beat.schedulers:DatabaseScheduler" in beat


def test_dockerfile_builds_a_non_root_gunicorn_image_with_collected_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r'^CMD \["gunicorn", "leadqual\.wsgi"', dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "var"} <= set(ignored)


def test_env_example_lists_every_variable_the_settings_read():
    read = settings_env_vars()
    # The parser must see the settings' own helpers too, or this test would pass on nothing.
    assert {"SECRET_KEY", "DATABASE_URL", "DEBUG", "ALLOWED_HOSTS", "REDIS_URL"} <= read
    assert not read - set(env_example()), f"missing from .env.example: {sorted(read - set(env_example()))}"


def test_env_example_placeholders_refuse_to_start_until_the_secret_key_is_set():
    values = {name: value for name, value in env_example().items() if not name.startswith("POSTGRES_")}
    result = manage("check", env=clean_env(**values))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return clean_env(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="leadqual.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        **overrides,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output


def test_production_settings_without_secret_key_fail_loudly(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr
