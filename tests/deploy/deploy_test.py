#!/usr/bin/python3
# deploy_test.py: checks that deploy/ (systemd units, example configs,
# Kubernetes manifests, Containerfile) agrees with itself and with the
# binaries' flags. Run by ctest (tests/deploy/CMakeLists.txt, label deploy):
#
#   /usr/bin/python3 tests/deploy/deploy_test.py <source-dir> [<build-dir>]
#
# Why a script and not a gtest: the inputs are YAML, TOML and unit files,
# and Debian's python3 reads the first two (python3-yaml, tomllib) with no
# build step. Debian's python3 only: the project's packages come from
# Debian's archive (deploy/install-deps.sh).
#
# What it checks (each failure is printed, then the exit code is 1):
# - every manifest parses; everything sits in namespace `skein`, which exists;
# - the coordinator Service is headless, selects the StatefulSet's pod labels,
#   is the StatefulSet's serviceName; selectors match their pod templates;
# - port 7700 everywhere: Service, containerPort, both probes, --listen,
#   the agents' --coordinator, the Containerfile's EXPOSE;
# - the StatefulSet has tcpSocket readiness and liveness probes, a
#   volumeClaimTemplate mounted at the config's data-dir;
# - every Secret/ConfigMap (and key) a pod reads through volumes or env
#   exists in the manifests; every $(VAR) in args is defined in env;
# - file paths passed as flags (--config, --bootstrap-token-file) lie in a
#   volume the container mounts; --config files are keys of the mounted
#   ConfigMap;
# - the agents dial the coordinator Service by a name the coordinator's
#   certificate carries (--advertise);
# - every flag used in units, configs and manifests is one the binary has
#   (the list below; and its --help, when a built binary is given);
# - the units: User=skein, Restart=on-failure, hardening directives,
#   StateDirectory matching the example config, ExecStart on /usr/bin and
#   /etc/skein/<name>.toml; and `systemd-analyze verify` accepts both (on a
#   copy whose ExecStart points at stub executables, since verify needs the
#   binary to exist) with no warning about them;
# - the image's uid is the runAsUser of the manifests.
# Without systemd-analyze the other checks still run; the script then prints
# a SKIP line and exits 77 (ctest SKIP_RETURN_CODE) unless one failed.

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:
    print("FAIL: python3-yaml is not installed (deploy/install-deps.sh installs it)")
    sys.exit(1)
try:
    import tomllib
except ImportError:  # python < 3.11: the simple line reader below
    tomllib = None

SKIP = 77
PORT = 7700
NAMESPACE = "skein"
SKEIN_UID = 10001

# The flags each daemon has (issue 10); the binary's --help is checked too
# when a build dir is given.
FLAGS = {
    "skein-coordinator": {"listen", "advertise", "data-dir", "token-file", "heartbeat-ms",
                          "miss-limit", "log-level", "config", "version"},
    "skein-node": {"coordinator", "work-dir", "bootstrap-token-file", "ca-hash", "node-name",
                   "cpus", "memory", "labels", "log-level", "config", "version"},
}
# Example config file name -> the daemon reading it.
CONFIG_OWNER = {"coordinator.toml": "skein-coordinator", "node.toml": "skein-node"}


class Checker:
    def __init__(self):
        self.failures = []

    def check(self, cond, what):
        if cond:
            print(f"ok: {what}")
        else:
            print(f"FAIL: {what}")
            self.failures.append(what)
        return cond


def parse_config(text, where):
    """A CLI11 TOML config -> {key: value}."""
    if tomllib is not None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{where}: {e}") from e
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*(.+)$', line)
        if not m:
            raise ValueError(f"{where}: not key = value: {line}")
        out[m.group(1)] = m.group(2).strip().strip('"')
    return out


def commented_keys(text):
    """Keys of commented-out example lines (`# cpus = 8`): still flags."""
    return {m.group(1) for m in re.finditer(r'^#\s*([a-z][a-z0-9-]*)\s*=\s*\S', text, re.M)}


def flags_in_args(args):
    """['--config', 'f', '--ca-hash=$(X)'] -> {'config': 'f', 'ca-hash': '$(X)'}."""
    out = {}
    i = 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                k, v = a[2:], str(args[i + 1])
                i += 1
            else:
                k, v = a[2:], None
            out[k] = v
        i += 1
    return out


def host_port(addr):
    host, _, port = addr.rpartition(":")
    return host, port


def load_manifests(c, k8s_dir):
    objs = {}
    files = sorted(k8s_dir.glob("*.yaml"))
    c.check(files, f"manifests found in {k8s_dir}")
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
        except yaml.YAMLError as e:
            c.check(False, f"{f.name} parses as YAML ({e})")
            continue
        c.check(True, f"{f.name} parses as YAML")
        for d in docs:
            ok = isinstance(d, dict) and "kind" in d and "metadata" in d and "name" in d["metadata"]
            if not c.check(ok, f"{f.name}: every document has kind and metadata.name"):
                continue
            key = (d["kind"], d["metadata"]["name"])
            c.check(key not in objs, f"{d['kind']}/{key[1]} defined once")
            objs[key] = d
    return objs


def mounted_volume(container, volumes, path):
    """The volume holding `path` in `container` (longest mountPath prefix)."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0]):
                best = (mp, m["name"])
    if best is None:
        return None, None
    return best[0], volumes.get(best[1])


def check_k8s(c, objs, flag_uses):
    for (kind, name), o in objs.items():
        if kind == "Namespace":
            continue
        c.check(o["metadata"].get("namespace") == NAMESPACE,
                f"{kind}/{name} is in namespace {NAMESPACE}")
    c.check(("Namespace", NAMESPACE) in objs, f"Namespace {NAMESPACE} is defined")

    def data_keys(kind, name):
        o = objs.get((kind, name))
        if o is None:
            return None
        keys = set((o.get("data") or {}).keys()) | set((o.get("stringData") or {}).keys())
        keys |= set((o.get("binaryData") or {}).keys())
        return keys

    def ref_ok(kind, name, key, who):
        keys = data_keys(kind, name)
        if c.check(keys is not None, f"{who}: {kind} {name} exists in the manifests"):
            if key is not None:
                c.check(key in keys, f"{who}: {kind} {name} has key {key}")

    sts = objs.get(("StatefulSet", "skein-coordinator"))
    svc = objs.get(("Service", "skein-coordinator"))
    ds = objs.get(("DaemonSet", "skein-node"))
    c.check(sts is not None, "StatefulSet skein-coordinator is defined")
    c.check(svc is not None, "Service skein-coordinator is defined")
    c.check(ds is not None, "DaemonSet skein-node is defined")
    c.check(("Secret", "skein-bootstrap") in objs, "Secret skein-bootstrap is defined")
    ref_ok("Secret", "skein-bootstrap", "token", "join")
    ref_ok("ConfigMap", "skein-cluster", "ca-hash", "join")
    if sts is None or svc is None or ds is None:
        return

    # Service <-> StatefulSet.
    sspec = svc["spec"]
    c.check(sspec.get("clusterIP") == "None", "Service skein-coordinator is headless")
    c.check(sts["spec"].get("serviceName") == svc["metadata"]["name"],
            "StatefulSet serviceName is the Service")
    for wl in (sts, ds):
        labels = wl["spec"]["template"]["metadata"].get("labels", {})
        sel = wl["spec"]["selector"].get("matchLabels", {})
        c.check(sel and sel.items() <= labels.items(),
                f"{wl['kind']}/{wl['metadata']['name']} selector matches its pod labels")
    pod_labels = sts["spec"]["template"]["metadata"].get("labels", {})
    c.check(sspec.get("selector") and sspec["selector"].items() <= pod_labels.items(),
            "Service selector matches the StatefulSet's pod labels")
    c.check([p.get("port") for p in sspec.get("ports", [])] == [PORT],
            f"Service port is {PORT}")
    c.check(all(p.get("targetPort", p.get("port")) == PORT for p in sspec.get("ports", [])),
            f"Service targetPort is {PORT}")
    c.check(sts["spec"].get("replicas", 1) == 1, "one coordinator replica")

    # Per-pod checks: references, mounts, flags, env.
    configs = {}  # daemon -> parsed config from the ConfigMap its --config names
    for wl in (sts, ds):
        wname = f"{wl['kind']}/{wl['metadata']['name']}"
        pod = wl["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for t in wl["spec"].get("volumeClaimTemplates", []):
            volumes[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "pvc": True}
        c.check(not pod.get("hostPID", False), f"{wname}: hostPID is off")
        for v in volumes.values():
            if "secret" in v:
                for it in v["secret"].get("items", [None]):
                    ref_ok("Secret", v["secret"]["secretName"], it and it["key"],
                           f"{wname} volume {v['name']}")
            if "configMap" in v:
                for it in v["configMap"].get("items", [None]):
                    ref_ok("ConfigMap", v["configMap"]["name"], it and it["key"],
                           f"{wname} volume {v['name']}")
        containers = pod.get("containers", []) + pod.get("initContainers", [])
        mounted = set()
        for ctr in containers:
            cname = f"{wname} container {ctr['name']}"
            for m in ctr.get("volumeMounts", []):
                c.check(m["name"] in volumes, f"{cname}: volume {m['name']} is defined")
                mounted.add(m["name"])
            env = set()
            for e in ctr.get("env", []):
                env.add(e["name"])
                vf = e.get("valueFrom", {})
                if "configMapKeyRef" in vf:
                    ref_ok("ConfigMap", vf["configMapKeyRef"]["name"], vf["configMapKeyRef"]["key"],
                           f"{cname} env {e['name']}")
                if "secretKeyRef" in vf:
                    ref_ok("Secret", vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"],
                           f"{cname} env {e['name']}")
                if "resourceFieldRef" in vf:
                    rf = vf["resourceFieldRef"]
                    res = rf["resource"].split(".")
                    c.check(rf.get("containerName", ctr["name"]) == ctr["name"]
                            and res[1] in ctr.get("resources", {}).get(res[0], {}),
                            f"{cname} env {e['name']}: {rf['resource']} is set on the container")
            for a in ctr.get("args", []) + ctr.get("command", []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(a)):
                    c.check(var in env, f"{cname}: $({var}) is defined in env")
            binary = os.path.basename(str((ctr.get("command") or [""])[0]))
            if binary not in FLAGS:
                continue
            for p in ctr.get("ports", []):
                c.check(p.get("containerPort") == PORT, f"{cname}: containerPort is {PORT}")
            flags = flags_in_args(ctr.get("args", []) + ctr.get("command", [])[1:])
            flag_uses.append((binary, set(flags), cname))
            for f in ("config", "bootstrap-token-file"):
                path = flags.get(f)
                if path is None:
                    continue
                mp, vol = mounted_volume(ctr, volumes, path)
                c.check(vol is not None, f"{cname}: --{f} {path} lies in a mounted volume")
                if f == "config" and vol is not None:
                    cm = vol.get("configMap")
                    rel = path[len(mp) + 1:]
                    paths = {it["path"]: it["key"] for it in (cm or {}).get("items", [])}
                    key = paths.get(rel, rel)
                    ok = cm is not None and key in (data_keys("ConfigMap", cm["name"]) or ())
                    if c.check(ok, f"{cname}: --config {path} is a key of the mounted ConfigMap"):
                        text = objs[("ConfigMap", cm["name"])]["data"][key]
                        try:
                            configs[binary] = parse_config(text, f"ConfigMap {cm['name']} {key}")
                            c.check(True, f"ConfigMap {cm['name']} {key} parses")
                        except ValueError as e:
                            c.check(False, str(e))
                            continue
                        keys = set(configs[binary]) | commented_keys(text)
                        c.check(CONFIG_OWNER.get(key) == binary,
                                f"{cname}: --config {key} is a {binary} config")
                        flag_uses.append((binary, keys, f"ConfigMap {cm['name']} {key}"))
        for v in volumes:
            c.check(v in mounted, f"{wname}: volume {v} is mounted")

    # The coordinator pod: probes, its volume at data-dir, the port.
    ctr = sts["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        p = ctr.get(probe)
        c.check(p is not None and p.get("tcpSocket", {}).get("port") == PORT,
                f"StatefulSet: {probe} is tcpSocket on {PORT}")
    ccfg = configs.get("skein-coordinator", {})
    c.check(str(ccfg.get("listen", "")).endswith(f":{PORT}"),
            f"coordinator config listens on :{PORT}")
    vct = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
    data_mount = [m["mountPath"] for m in ctr.get("volumeMounts", []) if m["name"] in vct]
    c.check(vct and data_mount == [ccfg.get("data-dir")],
            "StatefulSet: the volumeClaimTemplate is mounted at the config's data-dir")

    # The agents: bootstrap Secret mounted, CA hash from skein-cluster, and
    # the coordinator dialled by a Service name its certificate carries.
    pod = ds["spec"]["template"]["spec"]
    secret_vols = {v["name"] for v in pod.get("volumes", [])
                   if v.get("secret", {}).get("secretName") == "skein-bootstrap"}
    all_ctrs = pod.get("containers", []) + pod.get("initContainers", [])
    c.check(any(m["name"] in secret_vols for x in all_ctrs for m in x.get("volumeMounts", [])),
            "DaemonSet mounts Secret skein-bootstrap")
    node = next((x for x in pod["containers"]
                 if os.path.basename(str((x.get("command") or [""])[0])) == "skein-node"), None)
    if not c.check(node is not None, "DaemonSet runs skein-node"):
        return
    c.check(not node.get("securityContext", {}).get("privileged", False),
            "DaemonSet: skein-node is not privileged")
    nflags = flags_in_args(node.get("args", []))
    c.check("bootstrap-token-file" in nflags, "DaemonSet passes --bootstrap-token-file")
    ca = nflags.get("ca-hash", "")
    m = re.fullmatch(r"\$\(([A-Za-z_0-9]+)\)", ca or "")
    ca_env = next((e for e in node.get("env", []) if m and e["name"] == m.group(1)), None)
    c.check(ca_env is not None and ca_env.get("valueFrom", {}).get("configMapKeyRef", {})
            == {"name": "skein-cluster", "key": "ca-hash"},
            "DaemonSet: --ca-hash comes from ConfigMap skein-cluster key ca-hash")
    ncfg = configs.get("skein-node", {})
    dial = nflags.get("coordinator") or ncfg.get("coordinator", "")
    host, port = host_port(str(dial))
    c.check(port == str(PORT), f"agents dial the coordinator on port {PORT}")
    labels = host.split(".")
    c.check(labels[0] == "skein-coordinator" and (len(labels) < 2 or labels[1] == NAMESPACE),
            f"agents dial the Service skein-coordinator ({host})")
    c.check(host in (ccfg.get("advertise") or []),
            f"the coordinator's --advertise names {host}")
    for wl in (sts, ds):
        pod = wl["spec"]["template"]["spec"]
        uids = {x.get("securityContext", {}).get("runAsUser") for x in pod["containers"]}
        uids.add(pod.get("securityContext", {}).get("runAsUser"))
        uids.discard(None)
        c.check(uids == {SKEIN_UID},
                f"{wl['kind']}/{wl['metadata']['name']} runs as uid {SKEIN_UID}")


def parse_unit(text):
    sections, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            cur = sections.setdefault(line.strip("[]"), {})
            continue
        k, _, v = line.partition("=")
        cur.setdefault(k.strip(), []).append(v.strip())
    return sections


HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
             "PrivateTmp": "yes"}


def check_units(c, src, flag_uses, example_configs):
    units = {}
    for name, state_key in (("skein-coordinator", "data-dir"), ("skein-node", "work-dir")):
        f = src / "deploy" / "systemd" / f"{name}.service"
        if not c.check(f.is_file(), f"{f.relative_to(src)} exists"):
            continue
        units[name] = f
        svc = parse_unit(f.read_text()).get("Service", {})
        get = lambda k: (svc.get(k) or [None])[-1]  # noqa: E731
        c.check(get("User") == "skein", f"{name}.service: User=skein")
        c.check(get("Restart") == "on-failure", f"{name}.service: Restart=on-failure")
        for k, v in HARDENING.items():
            c.check(get(k) == v, f"{name}.service: {k}={v}")
        c.check(get("StateDirectory") == name, f"{name}.service: StateDirectory={name}")
        cfg_name = name.removeprefix("skein-") + ".toml"
        exec_start = (get("ExecStart") or "").split()
        c.check(exec_start[:1] == [f"/usr/bin/{name}"], f"{name}.service: ExecStart=/usr/bin/{name}")
        flags = flags_in_args(exec_start[1:])
        flag_uses.append((name, set(flags), f"{name}.service ExecStart"))
        c.check(flags.get("config") == f"/etc/skein/{cfg_name}",
                f"{name}.service: --config /etc/skein/{cfg_name}")
        cfg = example_configs.get(cfg_name, {})
        c.check(cfg.get(state_key) == f"/var/lib/{name}",
                f"deploy/config/{cfg_name}: {state_key} is the unit's StateDirectory")
    return units


def systemd_verify(c, units):
    """True if verified, False if systemd-analyze is missing."""
    tool = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if os.path.exists("/usr/bin/systemd-analyze") else None)
    if tool is None:
        return False
    with tempfile.TemporaryDirectory(prefix="skein-deploy-test-") as tmp:
        tmp = Path(tmp)
        (tmp / "bin").mkdir()
        copies = []
        for name, f in units.items():
            stub = tmp / "bin" / name
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
            text = f.read_text().replace(f"/usr/bin/{name}", str(stub))
            copy = tmp / f.name
            copy.write_text(text)
            copies.append(copy)
        r = subprocess.run([tool, "verify", *map(str, copies)], capture_output=True, text=True,
                           timeout=60)
        out = (r.stdout + r.stderr).strip()
        # verify exits 0 on unknown keys and bad values (it only warns), so any
        # line about our units is a failure. Lines about other units on the
        # host (their dependencies) are not ours to judge.
        ours = [ln for ln in out.splitlines() if any(u in ln for u in units)]
        for ln in ours:
            print(f"  systemd-analyze: {ln}")
        c.check(r.returncode == 0 and not ours,
                f"systemd-analyze verify accepts {', '.join(u.name for u in copies)}"
                f" (exit {r.returncode})")
    return True


def check_flags(c, flag_uses, build_dir):
    for binary, flags, where in flag_uses:
        unknown = sorted(flags - FLAGS[binary])
        c.check(not unknown, f"{where}: flags {sorted(flags)} are {binary} flags"
                             + (f" (unknown: {unknown})" if unknown else ""))
    if build_dir is None:
        return
    paths = {"skein-coordinator": "coordinator/skein-coordinator", "skein-node": "node/skein-node"}
    for binary, rel in paths.items():
        exe = build_dir / rel
        if not exe.is_file():
            print(f"note: {exe} not built; its --help is not checked")
            continue
        r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
        have = set(re.findall(r"--([a-z][a-z0-9-]*)", r.stdout + r.stderr))
        used = set().union(*[f for b, f, _ in flag_uses if b == binary])
        missing = sorted(used - have)
        c.check(not missing, f"{exe} --help lists every flag deploy/ uses"
                             + (f" (missing: {missing})" if missing else ""))


def main():
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} <source-dir> [<build-dir>]")
        return 2
    src = Path(sys.argv[1]).resolve()
    build_dir = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None
    c = Checker()
    flag_uses = []

    # Example configs (installed to share/skein/config).
    example_configs = {}
    for name, binary in CONFIG_OWNER.items():
        f = src / "deploy" / "config" / name
        if not c.check(f.is_file(), f"deploy/config/{name} exists"):
            continue
        text = f.read_text()
        try:
            example_configs[name] = parse_config(text, f"deploy/config/{name}")
            c.check(True, f"deploy/config/{name} parses")
        except ValueError as e:
            c.check(False, str(e))
            continue
        flag_uses.append((binary, set(example_configs[name]) | commented_keys(text),
                          f"deploy/config/{name}"))
    ccfg = example_configs.get("coordinator.toml", {})
    ncfg = example_configs.get("node.toml", {})
    c.check(str(ccfg.get("listen", "")).endswith(f":{PORT}"),
            f"deploy/config/coordinator.toml listens on :{PORT}")
    c.check(str(ncfg.get("coordinator", "")).endswith(f":{PORT}"),
            f"deploy/config/node.toml dials port {PORT}")
    c.check(re.fullmatch(r"sha256:[0-9a-f]{64}", str(ncfg.get("ca-hash", ""))) is not None,
            "deploy/config/node.toml: ca-hash is sha256:<64 hex>")
    c.check(host_port(str(ncfg.get("coordinator", "")))[0] in (ccfg.get("advertise") or []),
            "deploy/config/node.toml dials a name the coordinator advertises")

    objs = load_manifests(c, src / "deploy" / "k8s")
    check_k8s(c, objs, flag_uses)

    containerfile = src / "deploy" / "Containerfile"
    if c.check(containerfile.is_file(), "deploy/Containerfile exists"):
        text = containerfile.read_text()
        c.check(re.search(rf"^EXPOSE\s+{PORT}\s*$", text, re.M) is not None,
                f"Containerfile: EXPOSE {PORT}")
        c.check(re.search(rf"useradd\b[^\n]*--uid {SKEIN_UID}\b", text) is not None
                or re.search(rf"--uid {SKEIN_UID}\b", text) is not None,
                f"Containerfile: the skein user has uid {SKEIN_UID}")
        c.check(re.search(r"^USER\s+skein\s*$", text, re.M) is not None,
                "Containerfile: runs as USER skein")

    units = check_units(c, src, flag_uses, example_configs)
    check_flags(c, flag_uses, build_dir)
    verified = systemd_verify(c, units) if units else True

    if c.failures:
        print(f"\n{len(c.failures)} check(s) failed:")
        for f in c.failures:
            print(f"  - {f}")
        return 1
    if not verified:
        print("SKIP: systemd-analyze not found (apt-get install systemd); "
              "unit syntax not verified, every other check passed")
        return SKIP
    print("\nall deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
