#!/usr/bin/env python3
"""Helpers of deploy/check.sh for the deployment artifacts (PyYAML only).

  check_artifacts.py context DEST
      Copy the Docker build context (the repository filtered by
      /.dockerignore) to DEST and check that every COPY source of
      deploy/docker/Dockerfile is in it.
  check_artifacts.py dockerfile
      Parse deploy/docker/Dockerfile with BuildKit's own parser (the PyPI
      package `dockerfile`) and check what the parser lets through: known
      instructions and flags, COPY --from naming an earlier stage, shell
      quoting of RUN, pinned base images, and the runtime stage's non-root
      USER, VOLUME, exec-form HEALTHCHECK and ENTRYPOINT.
  check_artifacts.py compose-env CONFIG_YAML SERVICE
      From the output of `docker compose config`, print the service's
      environment as NAME=VALUE lines.
  check_artifacts.py systemd-env UNIT ENVFILE
      The unit's Environment= lines and the EnvironmentFile's, as NAME=VALUE.
  check_artifacts.py k8s-config DIR DEST
      Write the ConfigMap's hookgate.toml of the kustomization DIR to DEST
      and print the pod's environment as NAME=VALUE lines: secretKeyRef
      values from DIR/secret.example.yaml (so a key missing there fails),
      fieldRef values as a pod would see them. Also checks that the
      kustomization lists files that exist, that every { env = "NAME" } of
      the config is set by the pod, and that probes, security context and
      resources are there.
  check_artifacts.py k8s-files DIR
      The manifests to validate: the kustomization's resources and
      secret.example.yaml, one path a line.
"""

import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def fail(msg):
    print(f"    {msg}", file=sys.stderr)
    sys.exit(1)


# --- Docker build context ----------------------------------------------------

def dockerignore_patterns():
    pats = []
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            if neg:
                line = line[1:].strip()
            line = os.path.normpath(line.lstrip("/"))
            pats.append((neg, line))
    return pats


def pattern_regex(pat):
    # Docker's rules: Go filepath.Match per segment, plus "**" for any
    # number of segments; a pattern that matches a folder excludes its content.
    out = ""
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pat.startswith("**", i):
            out += ".*"
            i += 2
        elif pat[i] == "*":
            out += "[^/]*"
            i += 1
        elif pat[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pat[i])
            i += 1
    return re.compile(out + "(?:/.*)?$")


def tracked_files():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in (".git", "target")]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    # Untracked files the build needs would be missing from a clean clone too,
    # so only tracked files count (plus nothing else).
    return [f for f in files if os.path.isfile(os.path.join(ROOT, f))]


def context(dest):
    pats = [(neg, pattern_regex(p)) for neg, p in dockerignore_patterns()]
    kept = []
    for f in tracked_files():
        excluded = False
        for neg, rx in pats:
            if rx.match(f):
                excluded = not neg
        if not excluded:
            kept.append(f)
    for f in kept:
        os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), os.path.join(dest, f))
    # COPY sources of the Dockerfile (not --from=stage) must be in the context.
    missing = []
    with open(os.path.join(ROOT, "deploy/docker/Dockerfile")) as fh:
        text = fh.read().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        for src in args[:-1]:
            if src == ".":
                continue
            if not os.path.exists(os.path.join(dest, src)):
                missing.append(src)
    if missing:
        fail(f"COPY sources not in the build context (.dockerignore?): {missing}")
    print(f"    build context: {len(kept)} files")


FLAGS = {
    "FROM": {"--platform"},
    "RUN": {"--mount", "--network", "--security"},
    "COPY": {"--from", "--chown", "--chmod", "--link", "--parents", "--exclude"},
    "ADD": {"--chown", "--chmod", "--link", "--checksum", "--keep-git-dir", "--exclude"},
    "HEALTHCHECK": {"--interval", "--timeout", "--start-period", "--start-interval", "--retries"},
}
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL", "MAINTAINER"}


def dockerfile_lint():
    import shlex
    import dockerfile  # PyPI `dockerfile`: BuildKit's parser

    cmds = dockerfile.parse_file(os.path.join(ROOT, "deploy/docker/Dockerfile"))
    problems, stages, last = [], [], []
    for c in cmds:
        where = f"line {c.start_line}: {c.cmd}"
        if c.cmd not in INSTRUCTIONS:
            problems.append(f"{where}: unknown instruction")
            continue
        for f in c.flags:
            if f.split("=", 1)[0] not in FLAGS.get(c.cmd, set()):
                problems.append(f"{where}: unknown flag {f}")
        if c.cmd == "FROM":
            image = c.value[0]
            if ":" not in image.split("/")[-1] or image.endswith(":latest"):
                problems.append(f"{where}: base image {image} has no pinned tag")
            stages.append(c.value[2].lower() if len(c.value) >= 3 and c.value[1].upper() == "AS" else None)
            last = []
        last.append(c)
        if c.cmd in ("COPY", "ADD"):
            if len(c.value) < 2:
                problems.append(f"{where}: needs a source and a destination")
            for f in c.flags:
                if f.startswith("--from="):
                    src = f.split("=", 1)[1].lower()
                    if src not in stages[:-1] and not (src.isdigit() and int(src) < len(stages) - 1):
                        problems.append(f"{where}: --from={src} is not an earlier stage")
        if c.cmd == "RUN" and not c.json:
            try:
                shlex.split(c.value[0])
            except ValueError as e:
                problems.append(f"{where}: shell quoting: {e}")
    final = {c.cmd: c for c in last}
    user = final.get("USER")
    if user is None or user.value[0].split(":")[0] in ("root", "0"):
        problems.append("the runtime stage does not switch to a non-root USER")
    if "/var/lib/hookgate" not in (final["VOLUME"].value if "VOLUME" in final else ()):
        problems.append("the runtime stage has no VOLUME /var/lib/hookgate")
    hc = final.get("HEALTHCHECK")
    if hc is None or not hc.json or hc.value[0] != "CMD":
        problems.append("the runtime stage has no exec-form HEALTHCHECK CMD [...]")
    if "ENTRYPOINT" not in final or not final["ENTRYPOINT"].json:
        problems.append("the runtime stage has no exec-form ENTRYPOINT (SIGTERM must reach hookgate)")
    if problems:
        fail("deploy/docker/Dockerfile: " + "; ".join(problems))
    print(f"    {len(cmds)} instructions, {len(stages)} stages")


# --- environments ------------------------------------------------------------

def compose_env(config_yaml, service):
    with open(config_yaml) as f:
        doc = yaml.safe_load(f)
    env = doc["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    for k, v in env.items():
        print(f"{k}={'' if v is None else v}")


def envfile_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip().strip('"').strip("'")))
    return out


def systemd_env(unit, envfile):
    spec = {"%S": "/var/lib", "%E": "/etc", "%t": "/run", "%d": "/run/credentials/hookgate.service"}
    with open(unit) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Environment="):
                k, v = line[len("Environment="):].split("=", 1)
                for s, r in spec.items():
                    v = v.replace(s, r)
                print(f"{k}={v}")
    for k, v in envfile_lines(envfile):
        print(f"{k}={v}")


# --- Kubernetes --------------------------------------------------------------

def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomization(d):
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    res = k.get("resources") or []
    missing = [r for r in res if not os.path.isfile(os.path.join(d, r))]
    if missing:
        fail(f"{d}/kustomization.yaml lists missing files: {missing}")
    return k, res


def k8s_files(d):
    _, res = kustomization(d)
    for r in res + ["secret.example.yaml"]:
        print(os.path.join(d, r))


def k8s_config(d, dest):
    _, res = kustomization(d)
    docs = [doc for r in res for doc in load_all(os.path.join(d, r))]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    cms = by_kind.get("ConfigMap", [])
    workloads = by_kind.get("StatefulSet", []) + by_kind.get("Deployment", [])
    problems = []
    if len(cms) != 1 or "hookgate.toml" not in (cms[0].get("data") or {}):
        fail(f"{d}: expected one ConfigMap with data hookgate.toml")
    if len(workloads) != 1:
        fail(f"{d}: expected one StatefulSet or Deployment")
    for kind in ("Service", "PodDisruptionBudget"):
        if kind not in by_kind:
            problems.append(f"no {kind}")
    toml_text = cms[0]["data"]["hookgate.toml"]
    with open(dest, "w") as f:
        f.write(toml_text)

    w = workloads[0]
    pod = w["spec"]["template"]
    c = pod["spec"]["containers"][0]
    secrets = {}
    sec_path = os.path.join(d, "secret.example.yaml")
    for doc in load_all(sec_path):
        if doc.get("kind") == "Secret":
            secrets[doc["metadata"]["name"]] = doc.get("stringData") or {}
    env = {}
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
            continue
        vf = e.get("valueFrom") or {}
        if "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            val = secrets.get(ref["name"], {}).get(ref["key"])
            if val is None:
                problems.append(f"env {e['name']}: secret {ref['name']} key {ref['key']} "
                                f"not in secret.example.yaml")
                continue
            env[e["name"]] = val
        elif "fieldRef" in vf:
            env[e["name"]] = f"{w['metadata']['name']}-0"
        else:
            problems.append(f"env {e['name']}: unsupported valueFrom {list(vf)}")
    for name in re.findall(r'\{\s*env\s*=\s*"([^"]+)"\s*\}', toml_text):
        if name not in env:
            problems.append(f"the config reads env {name}, which the pod does not set")

    # What the issue asks of every pod; the schema check does the rest.
    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        hg = (c.get(probe) or {}).get("httpGet") or {}
        if hg.get("path") != path or hg.get("port") not in ("admin", ports.get("admin")):
            problems.append(f"{probe} is not GET {path} on the admin port")
    psc = pod["spec"].get("securityContext") or {}
    csc = c.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        problems.append("runAsNonRoot is not set")
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
        problems.append("capabilities do not drop ALL")
    r = c.get("resources") or {}
    if not (r.get("requests") and r.get("limits")):
        problems.append("resource requests or limits missing")
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    m = re.search(r'shutdown_grace\s*=\s*"(\d+)s"', toml_text)
    if m and int(m.group(1)) >= grace:
        problems.append(f"terminationGracePeriodSeconds {grace} is not above shutdown_grace")
    if w["kind"] == "StatefulSet":
        if w["spec"].get("replicas", 1) != 1:
            problems.append("a sqlite StatefulSet must have exactly one replica")
        if not w["spec"].get("volumeClaimTemplates"):
            problems.append("the StatefulSet has no volumeClaimTemplate")
    elif w["spec"].get("replicas", 1) < 2:
        problems.append("the Deployment should run at least two replicas")
    if problems:
        fail(f"{d}: " + "; ".join(problems))
    for k, v in env.items():
        print(f"{k}={v}")


def main(argv):
    cmds = {
        "context": (context, 1),
        "dockerfile": (dockerfile_lint, 0),
        "compose-env": (compose_env, 2),
        "systemd-env": (systemd_env, 2),
        "k8s-config": (k8s_config, 2),
        "k8s-files": (k8s_files, 1),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = cmds[argv[1]]
    fn(*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
