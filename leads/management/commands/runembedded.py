"""The embedded run (`make run`): a Celery worker with embedded beat plus Django's runserver, stopped together."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

# A warm shutdown of the worker with embedded beat takes 5-9 s on the filesystem
# broker (it polls once a second); after this it is killed with its whole group.
WORKER_STOP_TIMEOUT = 12.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Stop(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP so that `finally` stops the worker."""


def worker_command() -> list[str]:
    queues = f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.LEADQUAL_ROUTING_QUEUE}"
    return [sys.executable, "-m", "celery", "-A", "leadqual", "worker", "-B", "-c", "2", "-Q", queues, "-l", "INFO"]


def describe_demo_users(users: Iterable[Any] | Mapping[str, Any]) -> list[str]:
    """One line per demo login, "username / password  (role, team)", from dicts, tuples or a mapping."""
    if isinstance(users, Mapping):
        users = [
            {"username": name, **value} if isinstance(value, Mapping) else (name, value)
            for name, value in users.items()
        ]
    lines = []
    for user in users:
        if isinstance(user, Mapping):
            username, password = user.get("username", ""), user.get("password", "")
            extra = [user.get("role"), user.get("team")]
        elif isinstance(user, list | tuple):
            username, password, *extra = [*user, "", ""][: max(len(user), 2)]
        else:
            username, password, extra = user, "", []
        # A TextChoices role prints its translated label.
        details = ", ".join(str(getattr(item, "label", item)) for item in extra if item)
        line = f"{username} / {password}" if password else str(username)
        lines.append(f"{line}  ({details})" if details else line)
    return lines


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes Linux send SIGTERM to the worker if this process dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class Command(BaseCommand):
    help = "Run the embedded stack: a Celery worker with embedded beat, and Django's development server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to serve on (default 8000).")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        ipv6 = ":" in host
        self._check_port_free(host, port, ipv6=ipv6)
        self._print_banner(host, port, ipv6=ipv6)

        self._stopping = False
        self._worker_died = False
        previous = {signum: signal.signal(signum, self._raise_stop) for signum in _STOP_SIGNALS}
        # Ctrl-C must stop us even when started from a shell that ignores SIGINT (a background job).
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        worker: subprocess.Popen[bytes] | None = None
        try:
            worker = self._start_worker()
            call_command(
                "runserver",
                f"[{host}]:{port}" if ipv6 else f"{host}:{port}",
                use_ipv6=ipv6,
                use_reloader=False,
            )
        except (_Stop, KeyboardInterrupt):
            # SIGTERM/SIGHUP, or Ctrl-C before runserver took over (it turns Ctrl-C into sys.exit(0)).
            pass
        finally:
            self._stopping = True
            if worker is not None:
                self._stop_worker(worker)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self._worker_died:
            raise CommandError("The Celery worker stopped on its own; see its log above.")

    # --- parts ----------------------------------------------------------------------

    def _check_port_free(self, host: str, port: int, *, ipv6: bool) -> None:
        # runserver reports a busy port with os._exit(1), which would skip our cleanup:
        # find out before the worker starts.
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        try:
            with socket.create_server((host, port), family=family):
                pass
        except OSError as exc:
            raise CommandError(f"Cannot serve on {host}:{port}: {exc.strerror or exc}") from exc

    def _print_banner(self, host: str, port: int, *, ipv6: bool) -> None:
        url = f"http://[{host}]:{port}/" if ipv6 else f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"leadqual is starting at {url}"))
        self.stdout.write(f"  admin: {url}admin/   API docs: {url}api/docs/")
        try:
            from leads.demo import DEMO_USERS
        except ImportError:
            demo_users: Any = ()  # no demo module (yet): say nothing about logins
        else:
            demo_users = DEMO_USERS
        if demo_users:
            self.stdout.write("Demo logins (username / password):")
            for line in describe_demo_users(demo_users):
                self.stdout.write(f"  {line}")
        self.stdout.write("Press Ctrl-C to stop the web server and the worker.")
        self.stdout.flush()

    def _start_worker(self) -> subprocess.Popen[bytes]:
        # Its own session: the worker must get one SIGTERM on the main process (a
        # terminal's Ctrl-C or a signal to the whole group left it hanging in
        # shutdown), and the group lets us kill its pool and beat children at once.
        worker = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            worker_command(),
            cwd=settings.BASE_DIR,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        self.stdout.write(f"Celery worker with embedded beat started (pid {worker.pid}).")
        self.stdout.flush()
        threading.Thread(target=self._watch_worker, args=(worker,), name="worker-watch", daemon=True).start()
        return worker

    def _watch_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.wait()
        if not self._stopping:
            # Without a worker nothing gets scored: stop the web server too rather than run half a stack.
            self._worker_died = True
            self.stderr.write(f"The Celery worker exited with code {worker.returncode}; stopping.")
            os.kill(os.getpid(), signal.SIGTERM)

    def _stop_worker(self, worker: subprocess.Popen[bytes]) -> None:
        if worker.poll() is not None:
            self._kill_group(worker.pid)  # pool or beat children it may have left behind
            return
        self.stdout.write("Stopping the Celery worker (Ctrl-C again to kill it)...")
        self.stdout.flush()
        try:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand
            worker.wait(timeout=WORKER_STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt, _Stop):
            self.stderr.write("The Celery worker did not stop in time; killing it.")
        finally:
            self._kill_group(worker.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=5)
        self.stdout.write("Stopped.")

    @staticmethod
    def _kill_group(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def _raise_stop(self, signum: int, frame: FrameType | None) -> None:
        raise _Stop(signum)
