"""Checks docker/compose.yaml as far as a machine without a container engine can: it parses,
its services have what the README promises (an image or a build whose Dockerfile exists, a
health check as a command list), every named volume a service mounts is declared, every
dependency names a service with a health check, and every variable it reads from the
environment is documented in .env.example.

    python3 docker/check-compose.py        (needs PyYAML)
"""

import pathlib
import re
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
compose_file = root / "docker" / "compose.yaml"
text = compose_file.read_text(encoding="utf-8")
doc = yaml.safe_load(text)
problems = []

services = doc.get("services") or {}
volumes = doc.get("volumes") or {}
for want in ("db", "api"):
    if want not in services:
        problems.append(f"service {want} is missing")

for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        problems.append(f"{name}: neither image nor build")
    build = svc.get("build")
    if isinstance(build, dict):
        context = (compose_file.parent / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{name}: {dockerfile} does not exist")
    health = svc.get("healthcheck")
    if not health or not isinstance(health.get("test"), list) or health["test"][0] not in ("CMD", "CMD-SHELL"):
        problems.append(f"{name}: no health check as a CMD list")
    for mount in svc.get("volumes", []):
        source = str(mount).split(":", 1)[0]
        if not source.startswith((".", "/")) and source not in volumes:
            problems.append(f"{name}: volume {source} is not declared")
    for dep, how in (svc.get("depends_on") or {}).items():
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
        elif how.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            problems.append(f"{name}: waits for {dep} to be healthy, which has no health check")
    for env_file in svc.get("env_file", []):
        if not (compose_file.parent / env_file).resolve().parent.is_dir():
            problems.append(f"{name}: env_file {env_file} points outside the repository")

documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (root / ".env.example").read_text(encoding="utf-8"), re.M))
for var in sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))):
    if var not in documented:
        problems.append(f"${{{var}}} is read but not documented in .env.example")

if problems:
    print("docker/compose.yaml:", *problems, sep="\n  ")
    sys.exit(1)
print(f"docker/compose.yaml: {len(services)} services, {len(volumes)} volumes, health checks and variables in order")
