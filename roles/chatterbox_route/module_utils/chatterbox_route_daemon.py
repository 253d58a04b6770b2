"""One phone line's daemon on Panda: prove its wiring, restart it, and gate on what it really runs with.

The gate reads the running process's own environment (/proc/<pid>/environ): a file that says one
URL and a daemon that still uses another is caught here. Nothing from that environment leaves
this module but the one variable's value (the token is in there too).
"""

from __future__ import annotations

import subprocess
import time

IDLE_POLL_SECONDS = 5


class DaemonError(Exception):
    """A step on the daemon failed; the message says what was found."""


class Daemon:
    def __init__(self, options: dict) -> None:
        self.service: str = options["service"]
        self.scope: str = options.get("scope") or "system"
        self.options = options
        self.systemctl = ["systemctl"]
        if self.scope == "user":
            self.systemctl += ["--user", f"--machine={options.get('user', '')}@.host"]

    def show(self, *properties: str) -> tuple[int, dict[str, str], str]:
        argv = self.systemctl + ["show"] + [f"--property={name}" for name in properties] + [self.service]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        values: dict[str, str] = {}
        for line in done.stdout.splitlines():
            key, _, value = line.partition("=")
            # A property listed more than once (EnvironmentFiles=, one line per file) keeps every value.
            values[key] = f"{values[key]}\n{value}" if key in values else value
        return done.returncode, values, done.stderr.strip()

    @staticmethod
    def environ_value(pid: int, variable: str) -> str | None:
        """The variable as the running process has it (the last entry wins, as for getenv)."""
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                entries = handle.read().split(b"\0")
        except OSError:
            return None
        prefix = variable.encode() + b"="
        found = [entry[len(prefix) :] for entry in entries if entry.startswith(prefix)]
        return found[-1].decode("utf-8", "replace") if found else None

    def wait_active(self) -> int:
        timeout = int(self.options.get("restart_timeout", 30))
        deadline = time.monotonic() + timeout
        while True:
            _, values, _ = self.show("ActiveState", "MainPID")
            pid = int(values.get("MainPID", "0") or 0)
            if values.get("ActiveState") == "active" and pid > 0:
                return pid
            if time.monotonic() >= deadline:
                raise DaemonError(
                    f"{self.service} is not active {timeout} s after its restart "
                    f"(ActiveState={values.get('ActiveState', '?')}, MainPID={pid})."
                )
            time.sleep(0.5)

    def gate(self, variable: str, expected: str) -> dict:
        """The unit is active and its running process carries expected."""
        pid = self.wait_active()
        running = self.environ_value(pid, variable)
        if running != expected:
            has = f"{variable}={running}" if running is not None else f"no {variable}"
            raise DaemonError(f"{self.service} (pid {pid}) runs with {has}, expected {expected}.")
        return {"pid": pid}

    def wait_idle(self) -> dict:
        check, timeout = self.options.get("idle_check") or [], int(self.options.get("idle_timeout", 120))
        if not check:
            return {"idle": None, "idle_wait_s": 0}
        started = time.monotonic()
        while True:
            try:
                idle = subprocess.run(check, capture_output=True, check=False).returncode == 0
            except OSError:  # a check that cannot run never says idle: the restart waits out the timeout
                idle = False
            if idle:
                return {"idle": True, "idle_wait_s": round(time.monotonic() - started, 1)}
            if time.monotonic() - started >= timeout:
                return {"idle": False, "idle_wait_s": round(time.monotonic() - started, 1)}
            time.sleep(IDLE_POLL_SECONDS)

    def restart_and_gate(self, variable: str, expected: str) -> dict:
        """After a quiet moment when an idle check is set (a restart drops a call in progress)."""
        waited = self.wait_idle()
        if self.options.get("restart_method") == "command":
            argv = list(self.options.get("restart_command") or [])
        else:
            argv = [*self.systemctl, "restart", self.service]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except (OSError, ValueError) as error:
            raise DaemonError(f"Restarting {self.service} failed: {error}") from error
        if done.returncode != 0:
            raise DaemonError(f"Restarting {self.service} failed ({done.returncode}): {done.stderr.strip()}")
        return {**waited, **self.gate(variable, expected), "restarted": True}

    def wiring_problems(self, env_file: str, variable: str, url: str) -> list[str]:
        """Read-only: the unit reads env_file and the running daemon uses url; else what was found."""
        rc, props, error = self.show("LoadState", "ActiveState", "MainPID", "FragmentPath", "EnvironmentFiles")
        if rc != 0:
            return [f"systemctl show failed: {error}"]
        if props.get("LoadState") != "loaded":
            return [
                f"no such unit (LoadState={props.get('LoadState', '')}); "
                "a user unit needs the line's scope: user and user: NAME"
            ]
        # EnvironmentFiles=/etc/annie/phone.env (ignore_errors=no), one line per file.
        env_files = [entry.split(" ")[0] for entry in props.get("EnvironmentFiles", "").split("\n") if entry]
        problems = []
        if env_file not in env_files:
            problems.append(
                f"{self.service} ({props.get('FragmentPath', '')}) does not read {env_file}; its EnvironmentFiles are "
                f"{', '.join(env_files) or 'none'} (a daemon that loads its own .env? "
                "set the line's env_file to the file "
                "it really reads)"
            )
        pid = int(props.get("MainPID", "0") or 0)
        if pid == 0:
            problems.append(
                f"the daemon is not running (ActiveState={props.get('ActiveState', '')}), "
                "so which URL it uses cannot be "
                "proved; start it first"
            )
            return problems
        running = self.environ_value(pid, variable)
        if running is None:
            problems.append(
                f"the running daemon (pid {pid}) has no {variable} in its environment: it takes the URL from elsewhere"
            )
        elif running != url:
            problems.append(
                f"the running daemon (pid {pid}) uses {running} but the file says {url} "
                "(edited since its last restart?)"
            )
        return problems
