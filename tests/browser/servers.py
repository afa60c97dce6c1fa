"""The real servers the browser tests walk through: `dagster dev` on a temporary instance, and
`bayesline sql` run as a person would run it, against the same warehouse."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from labeling.process import free_local_port
from tests.conftest import REPO_ROOT
from tests.labelstudio_fixtures import LABEL_STUDIO_ENV

BIN = REPO_ROOT / ".venv" / "bin"
LOCATION = "assets.definitions"  # the code location name `dagster dev -m assets.definitions` gives
STARTUP_TIMEOUT_S = 180
# Variables from the developer's shell that would point the servers at their own data.
_FOREIGN_ENV = ("BAYESLINE_HOME", "BAYESLINE_CONFIG", "DAGSTER_HOME", *LABEL_STUDIO_ENV)


@dataclass(frozen=True)
class DagsterUI:
    """One running `dagster dev`: its URL, the warehouse it writes and the environment it has."""

    url: str
    home: Path
    config: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def landing(self) -> Path:
        return self.home / "landing"


def demo_config(root: Path, project_title: str) -> Path:
    """The demo config with its own Label Studio project, small caps and no simulated people,
    so every queued task waits for a person."""
    text = (REPO_ROOT / "bayesline.toml").read_text(encoding="utf-8")
    title = 'project_title = "Bayesline demo: human-level baseline"'
    replacements = {
        title: f'project_title = "{project_title}"',
        "per_slice_cap = 40": "per_slice_cap = 10",
        "overall_cap = 120": "overall_cap = 20",
    }
    for old, new in replacements.items():
        assert old in text, f"bayesline.toml changed: update the browser tests' config ({old})"
        text = text.replace(old, new)
    lines = [ln for ln in text.splitlines() if not ln.startswith("simulated_annotators")]
    path = root / "bayesline.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_dagster_ui(
    root: Path, config: Path, extra_env: dict[str, str] | None = None
) -> DagsterUI:
    """Start `dagster dev` (webserver and daemon) on 127.0.0.1 over an empty warehouse in `root`.

    The landing sensor is stopped once the code location loads: the tests start every run from
    the UI, and a sensor run racing them would publish the version they are waiting for.
    """
    home = root / "home"
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    # Dagster greets a new instance with a newsletter dialog over the page; mark it as seen.
    (dagster_home / ".nux").mkdir()
    (dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env.update(
        BAYESLINE_HOME=str(home),
        BAYESLINE_CONFIG=str(config),
        DAGSTER_HOME=str(dagster_home),
        GX_ANALYTICS_ENABLED="false",
        BAYESLINE_ANNOTATION_POLL_S="10",  # the labeler path waits for ticks: not a minute each
        **(extra_env or {}),
    )
    port = free_local_port()
    log = root / "dagster-dev.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-m",
                LOCATION,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops every child
        )
    ui = DagsterUI(f"http://127.0.0.1:{port}", home, config, env, process, log)
    try:
        _wait_for_code_location(ui)
        stop_sensor(ui, "landing_files_sensor")
    except BaseException:
        stop_dagster_ui(ui)
        raise
    return ui


def stop_dagster_ui(ui: DagsterUI, grace_s: float = 5) -> None:
    """Stop the whole process group: `dagster dev`, its webserver, daemon, code servers, runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(ui.process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        ui.process.wait(timeout=grace_s)
    # Whatever is left (dagster dev waits long for its children) goes now: the data is temporary.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(ui.process.pid, signal.SIGKILL)
    ui.process.wait(timeout=30)


def graphql(ui: DagsterUI, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{ui.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    payload = response.json()
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


_WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _wait_for_code_location(ui: DagsterUI) -> None:
    """Wait until the webserver answers and has loaded our code location, or fail with its log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if ui.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({ui.process.returncode}):\n{tail(ui.log)}")
        try:
            entries = graphql(ui, _WORKSPACE)["workspaceOrError"]["locationEntries"]
        except (httpx.HTTPError, KeyError, AssertionError) as exc:
            last = str(exc) or type(exc).__name__
        else:
            ours = [e for e in entries if e["name"] == LOCATION]
            loaded = ours and ours[0]["loadStatus"] == "LOADED"
            if loaded and ours[0]["locationOrLoadError"]["__typename"] == "PythonError":
                raise RuntimeError(f"the code location failed to load: {ours[0]}")
            if loaded:
                return
            last = f"location entries: {entries}"
        time.sleep(0.5)
    raise RuntimeError(
        f"dagster dev did not load {LOCATION} in {STARTUP_TIMEOUT_S} s ({last}):\n{tail(ui.log)}"
    )


def stop_sensor(ui: DagsterUI, name: str) -> None:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    found = graphql(
        ui,
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) "
        "{ __typename ... on Sensor { sensorState { id } } } }",
        {"s": {**selector, "sensorName": name}},
    )["sensorOrError"]
    assert found["__typename"] == "Sensor", found
    stopped = graphql(
        ui,
        "mutation($id: String) { stopSensor(id: $id) { __typename "
        "... on StopSensorMutationResult { instigationState { status } } } }",
        {"id": found["sensorState"]["id"]},
    )["stopSensor"]
    assert stopped.get("instigationState", {}).get("status") == "STOPPED", stopped


def bayesline(ui: DagsterUI, *args: str) -> str:
    """Run the `bayesline` command line on the UI's warehouse; its standard output."""
    done = subprocess.run(
        [str(BIN / "bayesline"), *args],
        cwd=REPO_ROOT,
        env=ui.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"bayesline {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def bayesline_sql(ui: DagsterUI, query: str) -> list[dict]:
    """`bayesline sql QUERY --format json`, parsed."""
    return json.loads(bayesline(ui, "sql", query, "--format", "json"))


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
