"""deploy/ as shipped: the Kubernetes manifests parse and agree with the
worker (its default port, its routes, its grace, its key names), the
container file exposes that port, the systemd units pass systemd-analyze
verify, and the example worker.ini and worker.env are accepted."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import ROOT, WORKER, free_port, wait_until

DEPLOY = os.path.join(ROOT, "deploy")


def effective(*args, env=None):
    """--check-config's INI output as {key: (value, source)}."""
    p = subprocess.run([WORKER, *args, "--check-config"], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, **(env or {})))
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(\w+) = (.*) ; (\w+)$", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def manifests():
    docs = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                assert isinstance(d, dict) and d["apiVersion"] and d["kind"], path
                docs.append(d)
    return {d["kind"]: d for d in docs}


def flag(args, name):
    return args[args.index(name) + 1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def test_manifests_match_the_worker_defaults_and_routes(shared_redis, workers):
    k = manifests()
    dep, pdb, scaled = k["Deployment"], k["PodDisruptionBudget"], k["ScaledObject"]
    pod = dep["spec"]["template"]
    c, = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}

    # HTTP on every interface of the pod, on the worker's default port.
    default_port = effective()["http"][0].rsplit(":", 1)[1]
    host, port = flag(c["args"], "--http").rsplit(":", 1)
    assert host == "0.0.0.0" and port == default_port == "9180"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(port)
    ready, live = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and live["path"] == "/healthz"
    assert ports.get(ready["port"], ready["port"]) == int(port)
    assert ports.get(live["port"], live["port"]) == int(port)
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == port
    assert ann["prometheus.io/path"] == "/metrics"

    # The kubelet's SIGKILL comes after the grace and the last Redis reply.
    conf = effective(*c["args"], env={k: v for k, v in env.items() if v})
    grace_ms = int(conf["shutdown_grace_ms"][0])
    assert conf["shutdown_grace_ms"][1] == "env"
    assert pod["spec"]["terminationGracePeriodSeconds"] * 1000 > \
        grace_ms + int(conf["redis_timeout_ms"][0])
    req = c["resources"]["requests"]
    assert req["cpu"] and req["memory"]

    # One disruption at a time, of these pods; KEDA scales this Deployment
    # on the pending list of every queue it serves, and only those.
    labels = pod["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"] == labels == \
        dep["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert scaled["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    queues = [q.split(":")[0] for q in flag(c["args"], "--queues").split(",")]
    prefix = conf["prefix"][0]
    assert all(t["type"] == "redis" for t in scaled["spec"]["triggers"])
    assert sorted(t["metadata"]["listName"] for t in scaled["spec"]["triggers"]) == \
        sorted(f"{prefix}:{{{q}}}:pending" for q in queues)
    auth = {t["authenticationRef"]["name"] for t in scaled["spec"]["triggers"]}
    assert auth == {k["TriggerAuthentication"]["metadata"]["name"]}

    with open(os.path.join(DEPLOY, "Containerfile")) as f:
        cf = f.read()
    assert re.search(rf"^EXPOSE {port}$", cf, re.M)
    assert re.search(rf"^ENV JOBQ_HTTP=0\.0\.0\.0:{port}$", cf, re.M)

    # The worker run with the manifest's arguments answers the probes and
    # the scrape on their paths (on loopback here: the tests stay there).
    local = free_port()
    args = list(c["args"])
    args[args.index("--http") + 1] = f"127.0.0.1:{local}"
    workers(*args, env=dict({k: v for k, v in env.items() if v},
                            JOBQ_WORKER_ID="pod-1", JOBQ_CPU_THREADS="1"))
    base = f"http://127.0.0.1:{local}"
    wait_until(lambda: get(base + ready["path"])[0] == 200, 10, "readiness 200")
    assert get(base + live["path"])[0] == 200
    status, body = get(base + ann["prometheus.io/path"])
    assert status == 200 and "jobq_redis_up 1" in body


def unit_lines(path):
    """{key: value} of a unit file's [Service] and [Unit] (no repeated keys)."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\w+)=(.*)$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


UNITS = ["jobq-worker.service", "jobq-worker@.service"]


def test_systemd_units_are_notify_with_a_watchdog_and_a_stop_timeout_past_the_grace():
    grace_ms = int(effective()["shutdown_grace_ms"][0])
    for name in UNITS:
        u = unit_lines(os.path.join(DEPLOY, "systemd", name))
        assert u["Type"] == "notify" and u["NotifyAccess"] == "main", name
        assert int(u["WatchdogSec"].rstrip("s")) > 0
        assert int(u["TimeoutStopSec"].rstrip("s")) * 1000 > grace_ms
        assert "--check-config" in u["ExecStartPre"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units():
    tmp = tempfile.mkdtemp(prefix="jobq-units-")
    try:
        paths = []
        for name in UNITS:
            with open(os.path.join(DEPLOY, "systemd", name)) as f:
                # verify checks that ExecStart= is executable: point it at
                # the binary under test instead of the installed path.
                text = f.read().replace("/usr/local/bin/jobq-worker", WORKER)
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        p = subprocess.run(["systemd-analyze", "verify", *paths],
                           capture_output=True, text=True, timeout=60)
        # Unknown keys are only warned about (exit 0): any word is a failure.
        assert p.returncode == 0 and p.stderr.strip() == "" and \
            p.stdout.strip() == "", p.stdout + p.stderr
    finally:
        shutil.rmtree(tmp)


def test_example_worker_ini_and_env_are_accepted():
    ini = os.path.join(DEPLOY, "systemd", "worker.ini")
    assert all(src == "default" for _, src in effective("-c", ini).values())
    env = {}
    with open(os.path.join(DEPLOY, "systemd", "worker.env")) as f:
        for line in f:
            m = re.match(r"^#?(JOBQ_\w+)=(.*)$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
    assert "JOBQ_REDIS_URL" in env and "JOBQ_ADMIN_TOKEN" in env
    conf = effective("-c", ini, env=env)
    for name in env:  # each names a setting, and takes
        assert conf[name[len("JOBQ_"):].lower()][1] == "env", name
