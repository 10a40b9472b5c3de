"""``make demo``: the whole runtime on embedded defaults, end to end, in separate processes.

1. the equipment simulator (``mes-runtime simulate``) serves three MTP modules over OPC UA;
2. the runtime (``mes-runtime serve``) starts on a fresh SQLite database;
3. ``mes-runtime create-admin`` creates the admin with a random password (printed once);
4. ``mes-runtime create-user`` enrols an operator and a QA user, each of whom sets their
   own password with the one-time set-up token printed for them; the admin imports each
   module's published MTP manifest and the template library; QA approves the demo recipe
   with an electronic signature (password re-entered, meaning "approved");
5. the operator starts the demo batch; every element state change is printed as it happens;
6. QA verifies the journal's hash chain and the result is printed.

Everything goes through the same HTTP API the UI uses. The demo keeps serving the UI until
Ctrl-C, unless ``--exit`` is given (tests use that).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mes_runtime.library import load_template, template_names

__all__ = ["main"]

DEMO_RECIPE = "mab-fedbatch-demo"
STEPS = 7


def _free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _step(number: int, text: str) -> None:
    print(f"[{number}/{STEPS}] {text}", flush=True)


class Demo:
    def __init__(
        self, *, workdir: Path, port: int, time_factor: float, simulator_host: str = "127.0.0.1"
    ) -> None:
        self.workdir = workdir
        self.port = port
        self.time_factor = time_factor
        self.simulator_host = simulator_host
        self.endpoints: dict[str, str] = {}
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "HOLON_DATA_DIR": str(workdir),
            "HOLON_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'runtime.db'}",
            "HOLON_LOG_LEVEL": "WARNING",
            # the demo shows the UI and QA's signed approval (features are off by default)
            "HOLON_FEATURE_UI": "true",
            "HOLON_FEATURE_ELECTRONIC_SIGNATURES": "true",
        }
        self.processes: list[tuple[str, subprocess.Popen[str]]] = []
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self.setup_tokens: list[str] = []
        """The one-time set-up tokens the demo was given (a test looks for them in the logs)."""

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[str]:
        with (self.workdir / f"{name}.log").open("w") as log:  # the child has its own fd
            process = subprocess.Popen(
                [sys.executable, "-m", "mes_runtime", *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        self.http.close()
        for _, process in reversed(self.processes):
            process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def _check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                logs = "\n".join(
                    f"--- {p.name} ---\n{p.read_text()[-2000:]}" for p in self.workdir.glob("*.log")
                )
                raise SystemExit(f"the demo's {name} process exited:\n{logs}")

    # -- steps -------------------------------------------------------------------------

    def start_simulator(self) -> dict[str, Path]:
        _step(1, f"starting the equipment simulator (time factor {self.time_factor:g}x)")
        manifests = self.workdir / "manifests"
        process = self._spawn(
            "simulator",
            "simulate",
            "--time-factor",
            str(self.time_factor),
            "--manifest-dir",
            str(manifests),
            "--host",
            self.simulator_host,
        )
        published: dict[str, Path] = {}
        assert process.stdout is not None
        while len(published) < 3:
            line = process.stdout.readline()
            if not line:
                self._check_alive()
                raise SystemExit("the simulator stopped before publishing its modules")
            name, endpoint, path = line.rstrip("\n").split("\t")
            published[name] = Path(path)
            self.endpoints[name] = endpoint
            print(f"      {name:<7} {endpoint}  manifest {path}", flush=True)
        return published

    def use_runtime(self, base: str, database_url: str) -> None:
        """Drive a runtime that runs elsewhere (``make demo-cluster``: in Kubernetes) instead
        of starting one; ``database_url`` is its database as this host reaches it."""
        self.http.close()
        self.base = base.rstrip("/")
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self.env["HOLON_DATABASE_URL"] = database_url

    def start_runtime(self) -> None:
        _step(2, f"starting the runtime on SQLite ({self.workdir / 'runtime.db'})")
        self._spawn("runtime", "serve", "--port", str(self.port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/readyz").status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit("the runtime did not become ready within 60 s")

    def create_admin(self) -> str:
        _step(3, "creating the admin user")
        result = subprocess.run(
            [sys.executable, "-m", "mes_runtime", "create-admin", "--username", "admin"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        password = result.stdout.strip().splitlines()[-1]
        print(f"      admin password (shown once): {password}", flush=True)
        return password

    def enrol(self, username: str, role: str) -> str:
        """Enrol a user (``mes-runtime create-user``: the admin grants only roles it holds)
        and, as that user, set their own password with the one-time set-up token."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mes_runtime",
                "create-user",
                "--username",
                username,
                "--full-name",
                f"Demo {username.capitalize()}",
                "--role",
                role,
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = result.stdout.strip().splitlines()[-1]
        self.setup_tokens.append(token)
        password = secrets.token_urlsafe(24)
        _ok(
            self.http.post(
                "/api/v1/auth/password/setup",
                json={"username": username, "setup_token": token, "new_password": password},
            )
        )
        return password

    def login(self, username: str, password: str) -> dict[str, str]:
        response = self.http.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        _ok(response)
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def prepare(self, admin_password: str, manifests: dict[str, Path]) -> dict[str, Any]:
        _step(4, "users, equipment manifests and the template library")
        admin = self.login("admin", admin_password)
        people: dict[str, Any] = {}
        for username, role in (("operator", "operator"), ("qa", "qa")):
            password = self.enrol(username, role)
            people[username] = {"password": password, "headers": self.login(username, password)}
            print(f"      user {username:<8} role {role:<8} password {password}", flush=True)
        for name, path in sorted(manifests.items()):
            _ok(
                self.http.post(
                    "/api/v1/equipment",
                    content=path.read_bytes(),
                    headers={**admin, "Content-Type": "application/xml"},
                )
            )
            print(f"      imported MTP manifest of {name}", flush=True)
        for name in template_names():
            recipe = load_template(name)
            _ok(self.http.post("/api/v1/recipes", json=recipe.to_canonical_data(), headers=admin))
        print(f"      imported templates: {', '.join(template_names())}", flush=True)
        version = load_template(DEMO_RECIPE).header.version
        _ok(
            self.http.post(
                f"/api/v1/recipes/{DEMO_RECIPE}/{version}/approve",
                json={"password": people["qa"]["password"], "meaning": "approved"},
                headers=people["qa"]["headers"],
            )
        )
        print(f"      QA approved {DEMO_RECIPE} v{version} (e-signature)", flush=True)
        return people

    def wait_for_equipment(self, headers: dict[str, str]) -> None:
        """Batches bind only connected modules; the runtime connects within a second or two."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = self.http.post(
                "/api/v1/batches", json={"recipe": DEMO_RECIPE, "start": False}, headers=headers
            )
            if response.status_code == 201:
                self.batch_id: str = response.json()["id"]
                return
            # 422 until the runtime has connected the modules: no binding yet, or the
            # recipe checked against no connected equipment
            waiting = ("bindings", "does not fit the equipment")
            if response.status_code != 422 or not any(w in response.text for w in waiting):
                _ok(response)
            time.sleep(0.5)
        raise SystemExit(f"equipment did not connect: {response.text}")

    def run_batch(self, people: dict[str, Any]) -> str:
        operator = people["operator"]["headers"]
        self.wait_for_equipment(operator)
        _step(5, f"running batch {self.batch_id} — watch it live at {self.base}/ui/")
        print("      (sign in as operator with the password above)", flush=True)
        _ok(
            self.http.post(
                f"/api/v1/batches/{self.batch_id}/commands",
                json={"command": "start", "path": "procedure", "reason": "demo"},
                headers=operator,
            )
        )
        started = time.monotonic()
        seen: dict[str, str] = {}
        while True:
            self._check_alive()
            response = self.http.get(f"/api/v1/batches/{self.batch_id}", headers=operator)
            _ok(response)
            batch = response.json()
            for element in batch["elements"]:
                if seen.get(element["path"]) != element["state"] and element["kind"] == "phase":
                    seen[element["path"]] = element["state"]
                    if element["state"] != "idle":
                        print(
                            f"      {time.monotonic() - started:6.1f}s  "
                            f"{element['path']:<52} {element['state']}",
                            flush=True,
                        )
            if batch["state"] in {"complete", "stopped", "aborted"}:
                print(
                    f"      batch {batch['state']} after {time.monotonic() - started:.1f} s; "
                    f"{len(batch['exceptions'])} open exception(s)",
                    flush=True,
                )
                return str(batch["state"])
            time.sleep(0.5)

    def verify(self, people: dict[str, Any]) -> bool:
        _step(6, "verifying the electronic batch record (hash chain)")
        response = self.http.get("/api/v1/journal/verify", headers=people["qa"]["headers"])
        _ok(response)
        result = response.json()
        print(f"      {result}", flush=True)
        return bool(result["ok"])


def _ok(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text}"
        )


@contextlib.contextmanager
def _demo(args: argparse.Namespace) -> Iterator[Demo]:
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)  # the demo's own data only: a fresh run
    workdir.mkdir(parents=True)
    demo = Demo(workdir=workdir, port=_free_port(args.port), time_factor=args.time_factor)
    try:
        yield demo
    finally:
        demo.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mes_runtime.demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path(".holon/demo"))
    parser.add_argument("--port", type=int, default=8080, help="UI port (a free one if busy)")
    parser.add_argument("--time-factor", type=float, default=3600.0)
    parser.add_argument("--exit", action="store_true", help="stop after verifying")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with _demo(args) as demo:
        manifests = demo.start_simulator()
        demo.start_runtime()
        people = demo.prepare(demo.create_admin(), manifests)
        state = demo.run_batch(people)
        verified = demo.verify(people)
        ok = state == "complete" and verified
        _step(
            7,
            f"{'OK' if ok else 'FAILED'}: batch {state}, journal "
            f"{'verified' if verified else 'BROKEN'}, {time.monotonic() - started:.0f} s in all",
        )
        if ok and not args.exit:
            print(f"\nUI: {demo.base}/ui/  — press Ctrl-C to stop", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    demo._check_alive()
                    time.sleep(1)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
