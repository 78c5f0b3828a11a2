"""Starting and stopping the sandbox's processes: moto server (AWS) and the local IdP.

Used by ``manage.py sandbox``, ``manage.py demo`` and the test fixtures, so all three run
the sandbox the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

IDP_DIR = Path(__file__).resolve().parent / "idp"
PROJECT_DIR = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class SandboxError(RuntimeError):
    pass


def die_with_parent() -> None:
    """preexec_fn: on Linux, the child gets SIGTERM when the process that started it dies, so a
    killed test run or demo leaves no sandbox behind. A no-op elsewhere."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SandboxError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
            time.sleep(0.1)
    raise SandboxError(f"{url} not ready after {timeout:.0f}s: {last}")


def moto_configure(endpoint: str) -> None:
    """Switch on what the sandbox needs: Step Functions really executes state machines.

    Must run before state machines are created (ones created earlier vanish).
    """
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}).encode()
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def moto_reset(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5):
        pass
    moto_configure(endpoint)


@dataclass
class SandboxProcesses:
    """The running sandbox. ``start()`` returns once both answer; ``stop()`` ends both."""

    aws_port: int
    idp_port: int
    idp_redirect_uris: list[str] = field(default_factory=list)
    log_dir: Path | None = None
    quiet: bool = True
    _procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def aws_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.aws_port}"

    @property
    def idp_issuer(self) -> str:
        return f"http://{LOOPBACK}:{self.idp_port}"

    def _out(self, name: str):
        if self.log_dir is None:
            return (subprocess.DEVNULL, subprocess.DEVNULL) if self.quiet else (None, None)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        f = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        return f, f

    def start(self, *, timeout: float = 30) -> SandboxProcesses:
        self.start_aws(timeout=timeout)
        self.start_idp(timeout=timeout)
        return self

    @staticmethod
    def _check_free(port: int, what: str) -> None:
        if port_open(port):
            raise SandboxError(f"port {port} for the {what} is already in use on {LOOPBACK}")

    def start_aws(self, *, timeout: float = 30) -> None:
        self._check_free(self.aws_port, "sandbox AWS")
        env = dict(os.environ, MOTO_PORT=str(self.aws_port))  # Step Functions integrations call back here
        # moto's server with the sandbox's CloudFormation extensions (sandbox/moto_ext), importable
        # whatever the caller's working directory.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p)
        out, err = self._out("moto")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.moto_server", "-H", LOOPBACK, "-p", str(self.aws_port)],
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._procs.append(proc)
        _wait_http(f"{self.aws_endpoint}/moto-api/data.json", timeout, proc)
        moto_configure(self.aws_endpoint)

    def start_idp(self, *, timeout: float = 30) -> None:
        self._check_free(self.idp_port, "sandbox IdP")
        node = shutil.which("node")
        if node is None:
            raise SandboxError("node is not installed: the sandbox IdP needs Node.js 20 or later")
        if not (IDP_DIR / "node_modules" / "oidc-provider").exists():
            raise SandboxError(f"the IdP's packages are missing: run `npm ci` in {IDP_DIR}")
        env = dict(os.environ, IDP_PORT=str(self.idp_port), IDP_ISSUER=self.idp_issuer)
        if self.idp_redirect_uris:
            env["IDP_REDIRECT_URIS"] = ",".join(self.idp_redirect_uris)
        out, err = self._out("idp")
        proc = subprocess.Popen(
            [node, "server.js"],
            cwd=IDP_DIR,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._procs.append(proc)
        _wait_http(f"{self.idp_issuer}/.well-known/openid-configuration", timeout, proc)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()

    def alive(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def __enter__(self) -> SandboxProcesses:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
