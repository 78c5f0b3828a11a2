"""docker-compose.yml and the two Dockerfiles, checked without a Docker engine.

Nothing here starts a container. The checks read the files and compare them with the repo:
the services exist and have healthchecks, every command names something that exists (a
management command, the Celery app, the WSGI callable, a module in requirements.txt, a
script in the build context), every environment variable is one the program reads, ports are
published on 127.0.0.1 only, secrets are defined and kept out of git and out of the images.

Each check is a function returning a list of problems, so the tests at the bottom can break a
copy of a file on purpose and see the problem reported. No Django, no database: these run
with or without pytest-django.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
APP_DOCKERFILE = REPO / "Dockerfile"
IDP_DIR = REPO / "sandbox" / "idp"
IDP_DOCKERFILE = IDP_DIR / "Dockerfile"

REQUIRED_SERVICES = ("postgres", "redis", "sandbox-aws", "idp", "web", "worker", "beat")
# Services that run the control plane's own settings: their environment must be read by settings.py.
APP_SERVICES = ("web", "worker", "beat", "migrate", "provision")
# Read by moto itself (moto/server.py): the port Step Functions integrations call back on.
SANDBOX_AWS_ENV = {"MOTO_PORT"}
SECRETS_DIR_IN_CONTAINER = "/run/secrets/"
# IDP_HOST values with which server.js listens on loopback only (unset or empty: its default, 127.0.0.1).
LOOPBACK_OR_UNSET = (None, "", "127.0.0.1", "localhost", "::1")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}

# Django's own commands (core and the contrib apps in INSTALLED_APPS).
DJANGO_COMMANDS = {
    "changepassword", "check", "clearsessions", "collectstatic", "compilemessages", "createcachetable",
    "createsuperuser", "dbshell", "diffsettings", "dumpdata", "findstatic", "flush", "inspectdb", "loaddata",
    "makemessages", "makemigrations", "migrate", "optimizemigration", "remove_stale_contenttypes", "runserver",
    "sendtestemail", "shell", "showmigrations", "sqlflush", "sqlmigrate", "sqlsequencereset",
    "squashmigrations", "startapp", "startproject", "test", "testserver",
}  # fmt: skip
CELERY_SUBCOMMANDS = {"worker", "beat", "inspect", "status", "control", "call", "purge", "result", "events", "shell"}
# Programs that come with a service's image rather than with the repo.
IMAGE_TOOLS = {"pg_isready": "postgres:", "redis-cli": "redis:"}
# Python modules whose distribution name differs from the import name.
MODULE_TO_DISTRIBUTION = {"yaml": "pyyaml", "dateutil": "python-dateutil", "jwt": "pyjwt"}

# Repo paths the control-plane image deliberately leaves out.
# bench/: run from a checkout, against a database; security/: the dependency audit CI runs.
NOT_IN_APP_IMAGE = ("tests/", "sandbox/idp/", "bench/", "security/")
# Never in any image: local state, secrets, tooling.
NEVER_IN_IMAGE = (".git/", ".venv/", "var/", "node_modules/", ".env")


# --- reading the files ------------------------------------------------------------------------


def load_compose(path: Path) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def settings_env_names(repo: Path = REPO) -> set[str]:
    """Every variable controlplane/settings.py reads through controlplane.env, with NAME_FILE for secrets."""
    source = (repo / "controlplane" / "settings.py").read_text()
    names = set()
    for kind, name in re.findall(r"\benv_(str|bool|int|float|list|secret)\(\s*[\"']([A-Za-z0-9_]+)[\"']", source):
        names.add(name)
        if kind == "secret":
            names.add(f"{name}_FILE")
    return names


def js_env_names(text: str) -> set[str]:
    """Variables a script of server.js's style reads: process.env.X, process.env['X'], envList('X'), envBool('X')."""
    names = set(re.findall(r"process\.env\.([A-Za-z_][A-Za-z0-9_]*)", text))
    names |= set(re.findall(r"process\.env\[\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*\]", text))
    names |= set(re.findall(r"\benv[A-Z][A-Za-z]*\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']", text))
    return names


def requirement_names(repo: Path = REPO) -> set[str]:
    names = set()
    for line in (repo / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if m:
            names.add(normalize_distribution(m.group(1)))
    return names


def normalize_distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def as_dict(value) -> dict:
    """A compose environment, in either of its two forms."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out = {}
    for item in value:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def secret_names(value) -> list[str]:
    return [s["source"] if isinstance(s, dict) else s for s in value or []]


# --- Dockerfiles -------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str, list[str]]]:
    """(INSTRUCTION, arguments, heredoc bodies) for each instruction; continuations joined."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines):
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#"):
                continue
            line = line.rstrip()[:-1] + " " + nxt.strip()
        word, _, args = line.strip().partition(" ")
        bodies = []
        for marker in re.findall(r"<<-?[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?", args):
            body = []
            while i < len(lines) and lines[i].strip() != marker:
                body.append(lines[i])
                i += 1
            i += 1  # the terminator
            bodies.append("\n".join(body) + "\n")
        out.append((word.upper(), args.strip(), bodies))
    return out


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(x, str) for x in value) else None


def dockerfile_cmd(text: str) -> list[str] | None:
    cmd = None
    for word, args, _ in dockerfile_instructions(text):
        if word == "CMD":
            cmd = exec_form(args) or shlex.split(args)
    return cmd


def dockerfile_env(text: str) -> dict[str, str]:
    """The variables the image's ENV instructions set (ENV K=v K2=v2, or the old ENV K v)."""
    env = {}
    for word, args, _ in dockerfile_instructions(text):
        if word != "ENV":
            continue
        parts = shlex.split(args)
        if parts and "=" not in parts[0]:
            env[parts[0]] = " ".join(parts[1:])
            continue
        for part in parts:
            key, _, value = part.partition("=")
            env[key] = value
    return env


def copy_sources(args: str) -> list[str] | None:
    """Build-context sources of a COPY/ADD, or None for --from= or heredoc copies."""
    parts = exec_form(args) or shlex.split(args)
    flags = [p for p in parts if p.startswith("--")]
    parts = [p for p in parts if not p.startswith("--")]
    if any(f.startswith("--from") for f in flags) or any(p.startswith("<<") for p in parts):
        return None
    return parts[:-1]


def context_files(context: Path, pattern: str) -> list[str]:
    """Files (relative to the context) that one COPY source brings."""
    pattern = pattern.rstrip("/") or "."
    matches = [context] if pattern == "." else sorted(context.glob(pattern))
    files = []
    for m in matches:
        if m.is_dir():
            files += [p.relative_to(context).as_posix() for p in m.rglob("*") if p.is_file()]
        elif m.is_file():
            files.append(m.relative_to(context).as_posix())
    return files


def common_dockerfile_problems(text: str, name: str, base: str) -> list[str]:
    problems = []
    instructions = dockerfile_instructions(text)
    froms = [args.split()[0] for word, args, _ in instructions if word == "FROM"]
    if not froms or not froms[-1].startswith(base):
        problems.append(f"{name}: the final stage must be FROM {base}, not {froms[-1] if froms else 'nothing'}")
    users = [args.split(":")[0] for word, args, _ in instructions if word == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append(f"{name}: runs as root (no non-root USER at the end)")
    for word, args, _ in instructions:
        if word in ("ENV", "ARG"):
            for key in re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", args):
                if re.search(r"SECRET|PASSWORD|TOKEN|PRIVATE_KEY", key, re.I):
                    problems.append(f"{name}: {word} {key} bakes a secret into the image")
    if not dockerfile_cmd(text):
        problems.append(f"{name}: no CMD")
    return problems


def app_dockerfile_problems(path: Path = APP_DOCKERFILE, repo: Path = REPO) -> list[str]:
    """The control-plane image: python:3.11-slim, locked requirements, static files, no secrets."""
    text = path.read_text()
    name = path.name
    problems = common_dockerfile_problems(text, name, "python:3.11-slim")
    instructions = dockerfile_instructions(text)
    runs = [args for word, args, _ in instructions if word == "RUN"]
    if not any(re.search(r"pip install .*-r requirements\.txt", r) for r in runs):
        problems.append(f"{name}: requirements.txt is not installed (pip install -r requirements.txt)")
    collect = [r for r in runs if "manage.py collectstatic" in r]
    if not collect:
        problems.append(f"{name}: collectstatic does not run at build")
    elif not all("--noinput" in r and "DJANGO_SECRET_KEY=" in r for r in collect):
        problems.append(f"{name}: collectstatic needs --noinput and a throwaway DJANGO_SECRET_KEY= on its own RUN")

    copied: set[str] = set()
    for word, args, _ in instructions:
        if word not in ("COPY", "ADD"):
            continue
        sources = copy_sources(args)
        for src in sources or []:
            if src.rstrip("/") in (".", "./", "*"):
                problems.append(
                    f"{name}: `{word} {args}` copies the whole repo (.venv, var/secrets, .git) into the image"
                )
                continue
            files = context_files(repo, src)
            if not files:
                problems.append(f"{name}: {word} source {src} is not in the build context")
            copied.update(files)
    for f in sorted(copied):
        if any(f.startswith(p) or f"/{p}" in f"/{f}" for p in NEVER_IN_IMAGE):
            problems.append(f"{name}: copies {f} into the image")

    # What the running app needs: manage.py, every top-level package, the folders settings names.
    needed = ["manage.py"]
    settings_source = (repo / "controlplane" / "settings.py").read_text()
    dirs = {p.parent.name for p in repo.glob("*/__init__.py")}
    dirs |= set(re.findall(r"BASE_DIR\s*/\s*[\"']([A-Za-z0-9_.-]+)[\"']", settings_source))
    for d in sorted(dirs):
        root = repo / d
        if not root.is_dir():
            continue
        for p in root.rglob("*"):
            rel = p.relative_to(repo).as_posix()
            wanted = p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            if wanted and not any(rel.startswith(x) for x in NOT_IN_APP_IMAGE + NEVER_IN_IMAGE):
                needed.append(rel)
    missing = [f for f in needed if f not in copied]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        problems.append(f"{name}: not copied into the image: {shown}")
    return problems


def idp_dockerfile_problems(path: Path = IDP_DOCKERFILE, context: Path = IDP_DIR) -> list[str]:
    """The IdP image: node:20-slim, npm ci from the lock file, server.js."""
    text = path.read_text()
    name = f"{context.name}/{path.name}"
    problems = common_dockerfile_problems(text, name, "node:20-slim")
    instructions = dockerfile_instructions(text)
    copied, lock_copied_before_ci, ci = set(), False, False
    for word, args, _ in instructions:
        if word in ("COPY", "ADD"):
            for src in copy_sources(args) or []:
                files = context_files(context, src)
                if not files:
                    problems.append(f"{name}: {word} source {src} is not in the build context")
                if any("node_modules" in f for f in files):
                    problems.append(f"{name}: copies the local node_modules instead of installing them")
                copied.update(files)
        if word == "RUN" and re.search(r"\bnpm ci\b", args):
            ci = True
            lock_copied_before_ci = "package-lock.json" in copied
    if not ci:
        problems.append(f"{name}: dependencies are not installed with npm ci")
    elif not lock_copied_before_ci:
        problems.append(f"{name}: package-lock.json is not copied before npm ci")
    for needed in ("server.js", "package.json", "users.json"):
        if needed not in copied:
            problems.append(f"{name}: {needed} is not copied into the image")
    host = dockerfile_env(text).get("IDP_HOST")
    if host in LOOPBACK_OR_UNSET:
        problems.append(
            f"{name}: IDP_HOST is {host!r}, so server.js listens on loopback only and a published port "
            "cannot reach it; set ENV IDP_HOST=0.0.0.0"
        )
    return problems


# --- commands ------------------------------------------------------------------------------


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script: split on && || ; | and newlines, without exec or VAR=x."""
    lex = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands, current = [], []
    for token in lex:
        if token in ("&&", "||", ";", "|", "&", ";;"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    out = []
    for argv in commands:
        while argv and (argv[0] == "exec" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0])):
            argv = argv[1:]
        if argv:
            out.append(argv)
    return out


def split_commands(command) -> list[list[str]]:
    if command is None:
        return []
    argv = shlex.split(command) if isinstance(command, str) else [str(x) for x in command]
    if len(argv) >= 3 and Path(argv[0]).name in ("sh", "bash") and argv[1] == "-c":
        return shell_commands(argv[2])
    return [argv]


def python_module_file(repo: Path, module: str) -> Path | None:
    base = repo.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def python_code_problems(code: str, where: str, repo: Path) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"{where}: python -c code does not parse: SyntaxError {exc.msg}"]
    problems = []
    local = {p.parent.name for p in repo.glob("*/__init__.py")}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in local:
            path = python_module_file(repo, node.module)
            if path is None:
                problems.append(f"{where}: imports {node.module}, which is not in the repo")
                continue
            defined = top_level_names(path)
            for alias in node.names:
                if alias.name not in defined and python_module_file(repo, f"{node.module}.{alias.name}") is None:
                    problems.append(f"{where}: {node.module} has no {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in local and python_module_file(repo, alias.name) is None:
                    problems.append(f"{where}: imports {alias.name}, which is not in the repo")
    return problems


def manage_py_problems(args: list[str], where: str, repo: Path) -> list[str]:
    if not args:
        return [f"{where}: manage.py without a command"]
    name = args[0]
    found = sorted(repo.glob(f"*/management/commands/{name}.py"))
    if not found:
        if name in DJANGO_COMMANDS:
            return []
        return [f"{where}: manage.py {name}: no such management command (*/management/commands/{name}.py)"]
    source = found[0].read_text()
    problems = []
    for option in args[1:]:
        if option.startswith("--"):
            flag = option.split("=", 1)[0]
            if f'"{flag}"' not in source and f"'{flag}'" not in source and flag not in ("--verbosity", "--settings"):
                problems.append(f"{where}: manage.py {name} has no option {flag}")
    return problems


def argv_problems(argv: list[str], where: str, repo: Path, context: Path) -> list[str]:
    """Does this command refer to things that exist?"""
    prog = Path(argv[0]).name
    args = argv[1:]
    if prog in ("python", "python3"):
        if args[:1] == ["manage.py"]:
            if not (repo / "manage.py").is_file():
                return [f"{where}: manage.py is missing"]
            return manage_py_problems(args[1:], where, repo)
        if args[:1] == ["-m"] and len(args) > 1:
            top = args[1].split(".")[0]
            dist = MODULE_TO_DISTRIBUTION.get(top, top)
            if (
                normalize_distribution(dist) not in requirement_names(repo)
                and python_module_file(repo, args[1]) is None
            ):
                return [f"{where}: python -m {args[1]}: {dist} is not in requirements.txt nor in the repo"]
            return []
        if args[:1] == ["-c"] and len(args) > 1:
            return python_code_problems(args[1], where, repo)
        return [f"{where}: unrecognised python command {argv}"]
    if prog == "celery":
        app = None
        for i, a in enumerate(args):
            if a in ("-A", "--app") and i + 1 < len(args):
                app = args[i + 1]
            elif a.startswith("--app="):
                app = a.split("=", 1)[1]
        if app is None:
            return [f"{where}: celery without -A"]
        module = app.split(":")[0]
        path = python_module_file(repo, module if module.endswith(".celery") else f"{module}.celery")
        path = path or python_module_file(repo, module)
        problems = []
        if path is None or "Celery(" not in path.read_text():
            problems.append(f"{where}: celery -A {app}: no Celery app in {module.replace('.', '/')}/celery.py")
        subcommands = [a for a in args if a in CELERY_SUBCOMMANDS]
        if not subcommands:
            problems.append(f"{where}: celery command names no known subcommand")
        return problems
    if prog == "gunicorn":
        targets = [a for a in args if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", a)]
        if not targets:
            return [f"{where}: gunicorn without a module:callable"]
        module, attr = targets[0].split(":")
        path = python_module_file(repo, module)
        if path is None:
            return [f"{where}: gunicorn {targets[0]}: {module} is not in the repo"]
        if attr not in top_level_names(path):
            return [f"{where}: gunicorn {targets[0]}: {path.relative_to(repo)} defines no {attr}"]
        return []
    if prog == "node":
        problems, i, script = [], 0, None
        while i < len(args):
            a = args[i]
            if a in ("-e", "--eval"):
                return node_code_problems(args[i + 1] if i + 1 < len(args) else "", where)
            if a in ("--import", "--require", "-r"):
                i += 1
                if i < len(args) and not args[i].startswith(("node:", "data:")):
                    ref = args[i]
                    if not (context / ref).is_file():
                        problems.append(f"{where}: node {a} {ref}: not in {context}")
            elif not a.startswith("-"):
                script = a
                break
            i += 1
        if script is None:
            problems.append(f"{where}: node without a script")
        elif not (context / script).is_file():
            problems.append(f"{where}: node {script}: not in {context}")
        return problems
    if prog in IMAGE_TOOLS:
        return []  # checked against the image in compose_problems
    return [f"{where}: unknown program {prog!r}"]


def node_code_problems(code: str, where: str) -> list[str]:
    node = shutil.which("node")
    if node is None:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(code)
    try:
        result = subprocess.run([node, "--check", f.name], capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(f.name)
    if result.returncode != 0:
        return [f"{where}: node -e code does not parse: {result.stderr.strip().splitlines()[-1:]}"]
    return []


# --- the compose file ----------------------------------------------------------------------


def healthcheck_argv(test) -> list[list[str]]:
    """The commands a healthcheck runs, or [] for NONE."""
    if isinstance(test, str):
        return shell_commands(test)
    kind, rest = test[0], test[1:]
    if kind == "CMD":
        return split_commands(rest)
    if kind == "CMD-SHELL":
        return shell_commands(" ".join(rest))
    return []


def is_one_shot(service: dict) -> bool:
    return str(service.get("restart", "no")) == "no"


def url_host_port(url: str) -> tuple[str | None, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


def check_required_services(compose: dict, project: Path) -> list[str]:
    services = compose.get("services") or {}
    return [f"missing service: {name}" for name in REQUIRED_SERVICES if name not in services]


def check_healthchecks(compose: dict, project: Path) -> list[str]:
    problems = []
    for name, svc in (compose.get("services") or {}).items():
        hc = svc.get("healthcheck")
        if hc is None:
            if not is_one_shot(svc):
                problems.append(f"{name}: long-running service has no healthcheck")
            continue
        test = hc.get("test")
        if hc.get("disable") or not test or test == ["NONE"]:
            problems.append(f"{name}: healthcheck disabled or empty")
        elif isinstance(test, list) and not all(isinstance(x, str) for x in test):
            # e.g. an unquoted "a ? b : c" that YAML turned into a mapping
            problems.append(f"{name}: healthcheck test items must be strings, got {test!r}")
        elif isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"):
            problems.append(f"{name}: healthcheck test must start with CMD or CMD-SHELL")
    return problems


def service_build(compose: dict, svc: dict) -> dict | None:
    """A service's build section, or that of the service that builds its image."""
    build = svc.get("build")
    if build is None and svc.get("image"):
        services = (compose.get("services") or {}).values()
        build = next((o["build"] for o in services if o.get("build") and o.get("image") == svc["image"]), None)
    if build is None:
        return None
    return {"context": build} if isinstance(build, str) else build


def check_commands(compose: dict, project: Path) -> list[str]:
    problems = []
    for name, svc in (compose.get("services") or {}).items():
        build = service_build(compose, svc)
        context, dockerfile_text = project, ""
        if build is not None:
            context = (project / build.get("context", ".")).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            dockerfile_text = dockerfile.read_text() if dockerfile.is_file() else ""
        command = svc.get("command")
        if command is None and dockerfile_text:
            command = dockerfile_cmd(dockerfile_text)
        commands = [(f"{name} command", argv) for argv in split_commands(command)]
        test = (svc.get("healthcheck") or {}).get("test")
        if test and (isinstance(test, str) or all(isinstance(x, str) for x in test)):
            commands += [(f"{name} healthcheck", argv) for argv in healthcheck_argv(test)]
        for where, argv in commands:
            prog = Path(argv[0]).name
            if prog in IMAGE_TOOLS:
                if not str(svc.get("image", "")).startswith(IMAGE_TOOLS[prog]):
                    problems.append(f"{where}: {prog} is not in the image {svc.get('image')}")
            elif build is not None:
                problems += argv_problems(argv, where, project, context)
            # else: someone else's image (postgres, redis), with its own programs
    return problems


def check_builds(compose: dict, project: Path) -> list[str]:
    problems = []
    for name, svc in (compose.get("services") or {}).items():
        build = svc.get("build")
        if build is None:
            if not svc.get("image"):
                problems.append(f"{name}: neither build nor image")
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = project / build.get("context", ".")
        if not context.is_dir():
            problems.append(f"{name}: build context {build.get('context')} does not exist")
            continue
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{name}: {dockerfile.relative_to(project)} does not exist")
    return problems


def check_app_environment(compose: dict, project: Path) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    known = settings_env_names(project if (project / "controlplane").is_dir() else REPO)
    for name in APP_SERVICES:
        if name not in services:
            continue
        env = as_dict(services[name].get("environment"))
        for key in sorted(set(env) - known):
            problems.append(f"{name}: {key} is not read by controlplane/settings.py")
        for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
            if not env.get(key):
                problems.append(f"{name}: {key} is not set")
        for key in ("DATABASE_URL", "CELERY_BROKER_URL", "SANDBOX_AWS_ENDPOINT"):
            if env.get(key):
                host, _ = url_host_port(str(env[key]))
                if host not in services:
                    problems.append(f"{name}: {key} points at {host!r}, which is not a service")
    postgres = as_dict((services.get("postgres") or {}).get("environment"))
    for name in APP_SERVICES:
        url = as_dict((services.get(name) or {}).get("environment")).get("DATABASE_URL")
        if url and postgres:
            p = urllib.parse.urlsplit(str(url))
            expected = (postgres.get("POSTGRES_USER"), postgres.get("POSTGRES_PASSWORD"), postgres.get("POSTGRES_DB"))
            if (p.username, p.password, p.path.lstrip("/")) != expected:
                problems.append(
                    f"{name}: DATABASE_URL does not match the postgres service's user, password and database"
                )
    return problems


def check_sandbox_environment(compose: dict, project: Path) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    aws = services.get("sandbox-aws")
    if aws is not None:
        env = as_dict(aws.get("environment"))
        for key in sorted(set(env) - SANDBOX_AWS_ENV):
            problems.append(f"sandbox-aws: {key} is not read by moto")
        argv = (split_commands(aws.get("command")) or [[]])[0]
        port = argv[argv.index("-p") + 1] if "-p" in argv[:-1] else None
        if port is None:
            problems.append("sandbox-aws: the moto server command sets no -p port")
        elif str(env.get("MOTO_PORT")) != port:
            problems.append(f"sandbox-aws: MOTO_PORT={env.get('MOTO_PORT')} differs from -p {port}")
        for name in APP_SERVICES:
            endpoint = as_dict((services.get(name) or {}).get("environment")).get("SANDBOX_AWS_ENDPOINT")
            if endpoint and port and url_host_port(str(endpoint)) != ("sandbox-aws", int(port)):
                problems.append(f"{name}: SANDBOX_AWS_ENDPOINT {endpoint} is not http://sandbox-aws:{port}")
    idp = services.get("idp")
    if idp is not None:
        build = idp.get("build") or {}
        context = project / (build if isinstance(build, str) else build.get("context", "."))
        server = context / "server.js"
        known = js_env_names(server.read_text()) if server.is_file() else set()
        env = as_dict(idp.get("environment"))
        for key in sorted(set(env) - known):
            problems.append(f"idp: {key} is not read by server.js")
        # server.js listens on loopback unless IDP_HOST (the image's ENV, or the service's) says otherwise.
        dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
        image_env = dockerfile_env(dockerfile.read_text()) if dockerfile.is_file() else {}
        host = str(env["IDP_HOST"]) if "IDP_HOST" in env else image_env.get("IDP_HOST")
        if host in LOOPBACK_OR_UNSET:
            problems.append(
                f"idp: listens on {host or '127.0.0.1 (the default)'} inside the container, "
                "which the published port cannot reach; IDP_HOST must be 0.0.0.0"
            )
    return problems


def check_sso_issuer(compose: dict, project: Path) -> list[str]:
    """The issuer must mean the same IdP in the browser and in the web container."""
    services = compose.get("services") or {}
    idp, web = services.get("idp"), services.get("web")
    if idp is None or web is None:
        return []
    problems = []
    idp_env = as_dict(idp.get("environment"))
    issuer = str(idp_env.get("IDP_ISSUER", "")).rstrip("/")
    server_url = str(as_dict(web.get("environment")).get("SSO_SERVER_URL", "")).rstrip("/")
    if not issuer:
        return ["idp: IDP_ISSUER is not set (the default, 127.0.0.1 in the container, is unreachable)"]
    if server_url != issuer:
        problems.append(f"web: SSO_SERVER_URL {server_url!r} is not the IdP's IDP_ISSUER {issuer!r}")
    host, port = url_host_port(issuer)
    if str(idp_env.get("IDP_PORT")) != str(port):
        problems.append(f"idp: IDP_PORT {idp_env.get('IDP_PORT')} differs from the issuer's port {port}")
    if f"127.0.0.1:{port}:{idp_env.get('IDP_PORT')}" not in [str(p) for p in idp.get("ports") or []]:
        problems.append(f"idp: the issuer's port is not published as 127.0.0.1:{port}:{idp_env.get('IDP_PORT')}")
    if host in ("localhost", "127.0.0.1") and web.get("network_mode") != "service:idp":
        problems.append(
            f"web: the issuer {issuer} is a loopback URL, which the web container reaches only with "
            "network_mode: service:idp"
        )
    # gunicorn's port must be published by whichever service owns web's network namespace.
    argv = (split_commands(web.get("command")) or [[]])[0]
    bind = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-b", "--bind")), None)
    if bind:
        owner = str(web.get("network_mode", "")).removeprefix("service:") or "web"
        published = [str(p) for p in (services.get(owner) or {}).get("ports") or []]
        web_port = bind.rsplit(":", 1)[-1]
        if not any(p.endswith(f":{web_port}") for p in published):
            problems.append(f"web: gunicorn's port {web_port} is not published (by {owner})")
    return problems


def check_depends_on(compose: dict, project: Path) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on is a list; give each target a condition")
            deps = {d: {} for d in deps}
        for target, spec in deps.items():
            if target not in services:
                problems.append(f"{name}: depends_on {target}, which is not a service")
                continue
            condition = (spec or {}).get("condition")
            if condition not in CONDITIONS:
                problems.append(f"{name}: depends_on {target} without a valid condition ({condition!r})")
            elif condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == "service_completed_successfully" and not is_one_shot(services[target]):
                problems.append(f"{name}: waits for {target} to complete, but {target} restarts")
        mode = str(svc.get("network_mode", ""))
        if mode.startswith("service:"):
            target = mode.removeprefix("service:")
            if target not in services:
                problems.append(f"{name}: network_mode {mode}: no such service")
            if svc.get("ports"):
                problems.append(f"{name}: has network_mode {mode}, so its ports must be published by {target}")
    return problems


def check_ports(compose: dict, project: Path) -> list[str]:
    problems, seen = [], {}
    for name, svc in (compose.get("services") or {}).items():
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                host_ip, published = port.get("host_ip"), port.get("published")
            else:
                parts = str(port).rsplit(":", 2)
                host_ip, published = (parts[0], parts[1]) if len(parts) == 3 else (None, parts[0])
            if host_ip != "127.0.0.1":
                problems.append(f"{name}: port {port} is not bound to 127.0.0.1")
            if published in seen:
                problems.append(f"{name}: host port {published} is also published by {seen[published]}")
            seen[published] = name
    return problems


def check_secrets(compose: dict, project: Path) -> list[str]:
    problems = []
    defined = compose.get("secrets") or {}
    gitignore = (project / ".gitignore").read_text().splitlines() if (project / ".gitignore").is_file() else []
    for secret, spec in defined.items():
        path = (spec or {}).get("file")
        if not path:
            continue
        rel = Path(os.path.normpath(path))
        if rel.is_absolute() or rel.parts[0] == "..":
            problems.append(f"secret {secret}: {path} is outside the project")
        elif not any(fnmatch(f"{rel.parts[0]}/", pat.strip()) or pat.strip() in (f"/{rel.parts[0]}/", str(rel))
                     for pat in gitignore):  # fmt: skip
            problems.append(f"secret {secret}: {path} is not in a folder .gitignore ignores")
    for name, svc in (compose.get("services") or {}).items():
        mounted = secret_names(svc.get("secrets"))
        for secret in mounted:
            if secret not in defined:
                problems.append(f"{name}: uses the undefined secret {secret}")
        for key, value in as_dict(svc.get("environment")).items():
            if key.endswith("_FILE") and str(value).startswith(SECRETS_DIR_IN_CONTAINER):
                secret = str(value).removeprefix(SECRETS_DIR_IN_CONTAINER)
                if secret not in mounted:
                    problems.append(f"{name}: {key}={value}, but the service does not mount the secret {secret}")
            elif re.search(r"SECRET|PASSWORD|TOKEN", key) and key not in ("POSTGRES_PASSWORD",):
                problems.append(f"{name}: {key} is given in clear text; use a secret and {key}_FILE")
    return problems


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def check_interpolation(compose: dict, project: Path) -> list[str]:
    """Every $ is an escaped $$ or ${NAME:-default}: the file must work without a .env."""
    problems = []
    for text in _strings(compose):
        for m in re.finditer(r"\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")):
            ref = m.group(1)
            if not re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*:?[-?][^}]*\}", ref):
                problems.append(f"${ref} needs a variable from the environment; give a default or write $$")
    return problems


CHECKS = (
    check_required_services,
    check_healthchecks,
    check_commands,
    check_builds,
    check_app_environment,
    check_sandbox_environment,
    check_sso_issuer,
    check_depends_on,
    check_ports,
    check_secrets,
    check_interpolation,
)


def compose_problems(path: Path = COMPOSE, project: Path | None = None) -> list[str]:
    """Everything wrong with a compose file; relative paths in it are resolved against `project`."""
    project = project or path.parent
    try:
        compose = load_compose(path)
    except (yaml.YAMLError, ValueError) as exc:
        return [f"{path}: does not parse: {exc}"]
    problems = []
    for check in CHECKS:
        problems += check(compose, project)
    return problems


# --- the tests on the real files -------------------------------------------------------------


def test_compose_file_parses():
    compose = load_compose(COMPOSE)
    assert isinstance(compose.get("services"), dict)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_compose_file(check):
    assert check(load_compose(COMPOSE), REPO) == []


def test_app_dockerfile():
    assert app_dockerfile_problems() == []


def test_idp_dockerfile():
    assert idp_dockerfile_problems() == []


def test_settings_names_are_found():
    """The regex behind the environment check sees what settings.py reads (a blind regex passes everything)."""
    names = settings_env_names()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE"} <= names
    assert {"SSO_CLIENT_SECRET_FILE", "SANDBOX_AWS_ENDPOINT", "DJANGO_SECURE_COOKIES"} <= names
    idp_names = js_env_names((IDP_DIR / "server.js").read_text())
    assert {"IDP_PORT", "IDP_ISSUER", "IDP_CLIENT_SECRET", "IDP_CLIENT_SECRET_FILE", "IDP_HOST"} <= idp_names
    assert dockerfile_env("ENV A=1 B='two words'\nENV C 3 4\n") == {"A": "1", "B": "two words", "C": "3 4"}


def test_the_app_services_share_one_environment():
    services = load_compose(COMPOSE)["services"]
    envs = [as_dict(services[name].get("environment")) for name in APP_SERVICES]
    assert all(env == envs[0] for env in envs)
    assert envs[0]["DJANGO_SECURE_COOKIES"] == "false"  # plain http on localhost


# --- the checks catch a broken file -------------------------------------------------------------


def _set(path: str, value):
    def mutate(c):
        *keys, last = path.split(".")
        node = c
        for k in keys:
            node = node[k]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


def _env(service: str, **changes):
    def mutate(c):
        env = dict(as_dict(c["services"][service].get("environment")))  # unshare the anchor
        for k, v in changes.items():
            if v is _DELETE:
                env.pop(k, None)
            else:
                env[k] = v
        c["services"][service]["environment"] = env

    return mutate


_DELETE = object()

BROKEN = {
    "service missing": (_set("services.worker", _DELETE), "missing service: worker"),
    "healthcheck missing": (
        _set("services.beat.healthcheck", _DELETE),
        "beat: long-running service has no healthcheck",
    ),
    "healthcheck item not a string": (
        _set("services.idp.healthcheck.test", ["CMD", "node", "-e", {"r.ok ? 0": "1"}]),
        "items must be strings",
    ),
    "healthcheck python does not parse": (
        _set("services.web.healthcheck.test", ["CMD", "python", "-c", "import urllib.request; urlopen("]),
        "SyntaxError",
    ),
    "unknown management command": (
        _set("services.migrate.command", ["python", "manage.py", "migrate_everything"]),
        "migrate_everything: no such management command",
    ),
    "unknown management command option": (
        _set("services.provision.command", "python manage.py provision sandbox --make-sandbox"),
        "has no option --make-sandbox",
    ),
    "celery app missing": (_set("services.worker.command", "celery -A nowhere worker -l info"), "celery -A nowhere"),
    "gunicorn callable missing": (
        _set("services.web.command", "gunicorn controlplane.wsgi:app -b 0.0.0.0:8000"),
        "defines no app",
    ),
    "python module not required": (
        _set("services.sandbox-aws.command", "python -m localstack.server -p 5055"),
        "localstack is not in requirements.txt",
    ),
    "python -c imports a missing name": (
        _set("services.provision.command", ["sh", "-c", "python -c 'from sandbox.processes import gone' && true"]),
        "sandbox.processes has no gone",
    ),
    "node script missing": (_set("services.idp.command", ["node", "main.js"]), "node main.js: not in"),
    "build context missing": (_set("services.idp.build", {"context": "./sandbox/nope"}), "sandbox/nope does not exist"),
    "unknown variable": (_env("worker", DJANGO_SECRET="x"), "worker: DJANGO_SECRET is not read"),
    "broker missing": (_env("beat", CELERY_BROKER_URL=_DELETE), "beat: CELERY_BROKER_URL is not set"),
    "database host not a service": (
        _env("web", DATABASE_URL="postgres://controlplane:controlplane@db:5432/controlplane"),
        "points at 'db'",
    ),
    "clear-text secret": (_env("web", SSO_CLIENT_SECRET="sandbox-secret"), "in clear text"),
    "moto port mismatch": (_env("sandbox-aws", MOTO_PORT="5000"), "MOTO_PORT=5000 differs"),
    "idp variable unknown": (_env("idp", IDP_BIND_ADDRESS="0.0.0.0"), "idp: IDP_BIND_ADDRESS is not read by server.js"),
    "idp on loopback": (_env("idp", IDP_HOST="127.0.0.1"), "idp: listens on 127.0.0.1 inside the container"),
    "issuer mismatch": (_env("web", SSO_SERVER_URL="http://idp:9400"), "is not the IdP's IDP_ISSUER"),
    "web not in the idp namespace": (_set("services.web.network_mode", _DELETE), "network_mode: service:idp"),
    "depends_on missing target": (_set("services.web.depends_on.cache", {"condition": "service_healthy"}), "cache"),
    "depends_on without condition": (_set("services.worker.depends_on", ["redis"]), "give each target a condition"),
    "waits on a one-shot as healthy": (
        _set("services.web.depends_on.migrate", {"condition": "service_healthy"}),
        "migrate has no healthcheck",
    ),
    "port on all interfaces": (_set("services.sandbox-aws.ports", ["5055:5055"]), "not bound to 127.0.0.1"),
    "undefined secret": (
        _set("services.web.secrets", ["django_secret_key", "api_token"]),
        "undefined secret api_token",
    ),
    "secret file not mounted": (_set("services.web.secrets", ["django_secret_key"]), "does not mount the secret"),
    "secret outside ignored folder": (
        _set("secrets.django_secret_key", {"file": "./django_secret_key"}),
        "not in a folder .gitignore ignores",
    ),
    "needs an .env": (_env("web", LOG_LEVEL="${LOG_LEVEL}"), "${LOG_LEVEL} needs a variable"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_compose_file_is_reported(name, tmp_path):
    mutate, expected = BROKEN[name]
    compose = copy.deepcopy(load_compose(COMPOSE))
    mutate(compose)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose, sort_keys=False))
    problems = compose_problems(broken, project=REPO)
    assert any(expected in p for p in problems), problems


def test_a_compose_file_that_does_not_parse_is_reported(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("services:\n", "services:\n  - [\n", 1))
    assert "does not parse" in compose_problems(broken, project=REPO)[0]


BROKEN_APP_DOCKERFILE = {
    "root": (lambda t: t.replace("USER 10001:10001\n", ""), "runs as root"),
    "baked secret": (lambda t: t.replace("ENV ", "ENV DJANGO_SECRET_KEY=abc ", 1), "ENV DJANGO_SECRET_KEY bakes"),
    "whole repo": (lambda t: t.replace("COPY manage.py ./", "COPY . ."), "copies the whole repo"),
    "app missing": (lambda t: t.replace("COPY reconciliation/ reconciliation/\n", ""), "reconciliation/"),
    "templates missing": (lambda t: t.replace("COPY templates/ templates/\n", ""), "templates/"),
    "secrets copied": (lambda t: t.replace("COPY static/ static/", "COPY static/ static/\nCOPY var/ var/"), "var/"),
    "no collectstatic": (lambda t: re.sub(r"RUN DJANGO_SECRET_KEY=.*collectstatic.*\n", "", t), "collectstatic"),
    "other base": (lambda t: t.replace("FROM python:3.11-slim", "FROM python:3.12"), "FROM python:3.11-slim"),
}


@pytest.mark.parametrize("name", list(BROKEN_APP_DOCKERFILE))
def test_a_broken_app_dockerfile_is_reported(name, tmp_path):
    mutate, expected = BROKEN_APP_DOCKERFILE[name]
    text = APP_DOCKERFILE.read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(mutate(text))
    assert broken.read_text() != text, "the mutation did not apply"
    problems = app_dockerfile_problems(broken, repo=REPO)
    assert any(expected in p for p in problems), problems


BROKEN_IDP_DOCKERFILE = {
    "no npm ci": (lambda t: t.replace("npm ci", "npm install"), "npm ci"),
    "lock copied late": (
        lambda t: t.replace("COPY package.json package-lock.json ./", "COPY package.json ./").replace(
            "COPY server.js users.json ./", "COPY server.js users.json package-lock.json ./"
        ),
        "package-lock.json is not copied before npm ci",
    ),
    "server.js missing": (lambda t: t.replace("COPY server.js users.json ./", "COPY users.json ./"), "server.js"),
    "root": (lambda t: re.sub(r"\nUSER .*\n", "\n", t), "runs as root"),
    "other base": (lambda t: t.replace("FROM node:20-slim", "FROM node:18"), "node:20-slim"),
    "listens on loopback": (lambda t: re.sub(r"\nENV IDP_HOST=.*\n", "\n", t), "IDP_HOST is None"),
}


@pytest.mark.parametrize("name", list(BROKEN_IDP_DOCKERFILE))
def test_a_broken_idp_dockerfile_is_reported(name, tmp_path):
    mutate, expected = BROKEN_IDP_DOCKERFILE[name]
    text = IDP_DOCKERFILE.read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(mutate(text))
    assert broken.read_text() != text, "the mutation did not apply"
    problems = idp_dockerfile_problems(broken, context=IDP_DIR)
    assert any(expected in p for p in problems), problems


def test_the_idp_image_command_is_checked_through_its_dockerfile(tmp_path):
    """The idp service has no command: the Dockerfile's CMD is what gets checked."""
    context = tmp_path / "idp"
    shutil.copytree(IDP_DIR, context, ignore=shutil.ignore_patterns("node_modules"))
    text = IDP_DOCKERFILE.read_text().replace('"server.js"]', '"main.js"]')
    (context / "Dockerfile").write_text(text)
    compose = copy.deepcopy(load_compose(COMPOSE))
    compose["services"]["idp"]["build"] = {"context": str(context)}
    assert any("node main.js: not in" in p for p in check_commands(compose, REPO))


# --- the IdP as its image runs it, for real where Node.js and the IdP's packages are ------------

needs_idp = pytest.mark.skipif(
    shutil.which("node") is None or not (IDP_DIR / "node_modules" / "oidc-provider").is_dir(),
    reason="needs node and `npm ci` in sandbox/idp",
)

# No http_proxy from the environment: these requests go straight to the local IdP.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _idp_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any IDP_ variable, plus `overrides`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IDP_")} | overrides


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine outside 127.0.0.0/8, or None."""
    candidates = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: sends nothing, only picks the outgoing interface
            candidates.append(s.getsockname()[0])
        except OSError:
            pass
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    return next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), None)


def _listen_addresses(port: int) -> set[str] | None:
    """Local addresses of the TCP sockets listening on `port` (/proc/net/tcp*, else `ss -ltn`); None if unknown."""
    tables = [
        (Path("/proc/net") / name, family) for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6))
    ]
    tables = [(path, family) for path, family in tables if path.is_file()]
    if tables:
        found = set()
        for path, family in tables:
            for line in path.read_text().splitlines()[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].partition(":")
                if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                if sys.byteorder == "little":  # each 32-bit word is printed in host byte order
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
        return found
    if shutil.which("ss"):
        result = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, timeout=10)
        found = set()
        for line in result.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4:
                host, _, listen_port = fields[3].rpartition(":")
                if listen_port == str(port):
                    host = host.strip("[]").split("%")[0]
                    found.add("0.0.0.0" if host == "*" else host)
        return found
    return None


@contextlib.contextmanager
def _running_idp(argv: list[str], env: dict[str, str]):
    """Start the IdP, wait for its ready line, yield it; then SIGTERM (SIGKILL after 10 s)."""
    proc = subprocess.Popen(argv, cwd=IDP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("IdP ready: "):
            proc.kill()
            pytest.fail(f"the IdP did not get ready: stdout {line!r}, stderr {proc.stderr.read()[-2000:]!r}")
        yield line
    finally:
        proc.terminate()
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _token_error(port: int, client_secret: str) -> str:
    """The token endpoint's error for a bogus code: invalid_client when the secret is wrong."""
    body = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://localhost:8000/",
         "client_id": "cutover-control-plane", "client_secret": client_secret}
    ).encode()  # fmt: skip
    try:
        _DIRECT.open(f"http://127.0.0.1:{port}/token", data=body, timeout=5)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())["error"]
    return ""


@needs_idp
def test_the_idp_image_listens_beyond_loopback_and_reads_the_secret_file(tmp_path):
    """server.js as the image runs it (its CMD, its ENV), with the client secret from a file."""
    text = IDP_DOCKERFILE.read_text()
    image_env = dockerfile_env(text)
    assert image_env.get("IDP_HOST") == "0.0.0.0"
    argv = dockerfile_cmd(text)
    assert argv and argv[0] == "node"
    secret = tmp_path / "sso_client_secret"
    secret.write_text("from-the-secret-file\n")
    port = _free_port()
    env = _idp_env(
        **image_env,
        IDP_PORT=str(port),
        IDP_ISSUER=f"http://localhost:{port}",
        IDP_CLIENT_SECRET_FILE=str(secret),
    )
    with _running_idp(argv, env) as ready:
        assert ready.startswith(f"IdP ready: issuer=http://localhost:{port} ")

        assert _token_error(port, "sandbox-secret") == "invalid_client"  # the default secret is gone
        assert _token_error(port, "from-the-secret-file\n") == "invalid_client"  # trimmed
        assert _token_error(port, "from-the-secret-file") not in ("", "invalid_client")  # accepted; the code is bogus

        addresses = _listen_addresses(port)
        other = _non_loopback_ipv4()
        if addresses is None and other is None:
            pytest.skip("cannot tell where the IdP listens: no /proc/net/tcp, no ss, no non-loopback address")
        if addresses is not None:
            assert addresses & {"0.0.0.0", "::"}, f"listens on {addresses}, not on every interface"
        if other is not None:
            with _DIRECT.open(f"http://{other}:{port}/.well-known/openid-configuration", timeout=5) as r:
                assert json.loads(r.read())["issuer"] == f"http://localhost:{port}"


@needs_idp
def test_the_idp_listens_on_loopback_only_by_default():
    port = _free_port()
    with _running_idp(["node", "server.js"], _idp_env(IDP_PORT=str(port))) as ready:
        assert ready.startswith(f"IdP ready: issuer=http://127.0.0.1:{port} ")
        addresses = _listen_addresses(port)
        if addresses is not None:
            assert addresses == {"127.0.0.1"}
        other = _non_loopback_ipv4()
        if other is not None:
            with pytest.raises(urllib.error.URLError):
                _DIRECT.open(f"http://{other}:{port}/.well-known/openid-configuration", timeout=5)


@needs_idp
@pytest.mark.parametrize("problem", ["missing", "empty"])
def test_the_idp_does_not_start_without_its_secret_file(problem, tmp_path):
    secret = tmp_path / "sso_client_secret"
    if problem == "empty":
        secret.write_text("\n")
    env = _idp_env(IDP_PORT="0", IDP_CLIENT_SECRET_FILE=str(secret))
    result = subprocess.run(["node", "server.js"], cwd=IDP_DIR, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert f"IDP_CLIENT_SECRET_FILE {secret}: " in result.stderr
    assert ("ENOENT" if problem == "missing" else "empty") in result.stderr


@needs_idp
def test_idp_client_secret_wins_over_the_file(tmp_path):
    port = _free_port()
    env = _idp_env(IDP_PORT=str(port), IDP_CLIENT_SECRET="from-env", IDP_CLIENT_SECRET_FILE=str(tmp_path / "missing"))
    with _running_idp(["node", "server.js"], env):
        assert _token_error(port, "from-env") not in ("", "invalid_client")
