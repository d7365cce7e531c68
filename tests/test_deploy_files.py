"""The deployment files (Dockerfile, deploy/web.Dockerfile, docker-compose.yml,
deploy/nginx.conf, .dockerignore) checked against the package they deploy, so that a
change on one side (a port, a route, the torch pin, a path) fails here instead of in a
docker build nobody ran. No Docker engine is needed.

With nginx installed, the nginx config is also syntax-checked and run in front of a real
`envaudio serve` (skipped otherwise); hadolint lints the Dockerfiles when present.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
WEB_DOCKERFILE = ROOT / "deploy" / "web.Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
VITE_CONFIG = ROOT / "frontend" / "vite.config.js"
PACKAGE_JSON = ROOT / "frontend" / "package.json"


# ------------------------------------------------------------------ Dockerfile parsing

@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [rest for o, rest in self.instructions if o == op]

    def workdir_at(self, index: int) -> str:
        """The WORKDIR in force at instruction `index` of this stage."""
        wd = "/"
        for o, rest in self.instructions[:index]:
            if o == "WORKDIR":
                wd = posixpath.join(wd, rest.strip())
        return wd


def parse_dockerfile(path: Path) -> list[Stage]:
    """Instructions grouped by stage (line continuations joined, comments dropped)."""
    stages: list[Stage] = []
    buf = ""
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("#") or (not s and not buf):
            continue  # comments, also inside a continued instruction, as Docker does
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        op, _, rest = buf.strip().partition(" ")
        buf = ""
        op, rest = op.upper(), rest.strip()
        if op == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, f"{path.name}: cannot parse FROM {rest!r}"
            stages.append(Stage(m.group(1), m.group(2)))
        else:
            assert stages, f"{path.name}: {op} before FROM"
            stages[-1].instructions.append((op, rest))
    return stages


@dataclass
class Copy:
    stage: Stage
    index: int
    from_stage: str | None
    sources: list[str]
    dest: str

    @property
    def dest_abs(self) -> str:
        return posixpath.join(self.stage.workdir_at(self.index), self.dest)


def copies(stages: list[Stage]) -> list[Copy]:
    out = []
    for st in stages:
        for i, (op, rest) in enumerate(st.instructions):
            if op not in ("COPY", "ADD"):
                continue
            tokens = shlex.split(rest)
            flags = [t for t in tokens if t.startswith("--")]
            args = [t for t in tokens if not t.startswith("--")]
            if args and args[0].startswith("["):
                args = json.loads(" ".join(args))
            frm = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            out.append(Copy(st, i, frm, args[:-1], args[-1]))
    return out


def exec_form(rest: str) -> list[str]:
    assert rest.lstrip().startswith("["), f"use the exec (JSON) form, not {rest!r}"
    return json.loads(rest)


def healthcheck_cmd(stage: Stage) -> list[str]:
    (hc,) = stage.all("HEALTHCHECK")
    _, sep, cmd = hc.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {hc!r}"
    return exec_form(cmd)


def urls_in(args: list[str]) -> list[str]:
    return re.findall(r"https?://[^\s'\"]+", " ".join(args))


# ------------------------------------------------------------------ nginx parsing

@dataclass
class Block:
    args: list[str]
    directives: list[list[str]] = field(default_factory=list)
    blocks: list["Block"] = field(default_factory=list)

    def get(self, name: str) -> list[list[str]]:
        return [d[1:] for d in self.directives if d[0] == name]

    def one(self, name: str) -> list[str]:
        found = self.get(name)
        assert len(found) == 1, f"expected one {name!r} directive, found {found}"
        return found[0]

    def children(self, name: str) -> list["Block"]:
        return [b for b in self.blocks if b.args[0] == name]


def parse_nginx(text: str) -> Block:
    tokens = re.findall(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|#[^\n]*|[{};]|[^\s{};]+", text)
    root = Block(["main"])
    stack, words = [root], []
    for t in tokens:
        if t.startswith("#"):
            continue
        if t == ";":
            stack[-1].directives.append(words)
            words = []
        elif t == "{":
            b = Block(words)
            stack[-1].blocks.append(b)
            stack.append(b)
            words = []
        elif t == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(t[1:-1] if t[0] in "\"'" else t)
    assert len(stack) == 1 and not words, "unbalanced braces in nginx.conf"
    return root


@dataclass
class Location:
    modifier: str  # "", "=", "^~", "~", "~*"
    pattern: str
    block: Block

    @property
    def proxied(self) -> bool:
        return bool(self.block.get("proxy_pass"))

    def headers(self) -> dict[str, str]:
        return {h[0].lower(): " ".join(h[1:]) for h in self.block.get("proxy_set_header")}


def locations(server: Block) -> list[Location]:
    out = []
    for b in server.children("location"):
        args = b.args[1:]
        mod, pattern = (args[0], args[1]) if len(args) == 2 else ("", args[0])
        out.append(Location(mod, pattern, b))
    return out


def nginx_pick(locs: list[Location], uri: str) -> Location | None:
    """The location nginx uses for `uri`: exact match, else the longest prefix if it is
    `^~`, else the first matching regex in file order, else the longest prefix."""
    for loc in locs:
        if loc.modifier == "=" and loc.pattern == uri:
            return loc
    prefixes = [l for l in locs if l.modifier in ("", "^~") and uri.startswith(l.pattern)]
    best = max(prefixes, key=lambda l: len(l.pattern), default=None)
    if best is not None and best.modifier == "^~":
        return best
    for loc in locs:
        if loc.modifier in ("~", "~*") and re.search(loc.pattern, uri, re.I if loc.modifier == "~*" else 0):
            return loc
    return best


def nginx_size(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert m, value
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2).lower()]


# ------------------------------------------------------------------ other helpers

def compose_value(value) -> str:
    """A compose string with ${VAR:-default} / ${VAR-default} / ${VAR} resolved as if no
    variable were set."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def port_mapping(spec) -> tuple[int, int]:
    """ "8000:8000" / "127.0.0.1:8000:8000" / "8000:8000/tcp" -> (published, container)."""
    parts = compose_value(spec).split("/")[0].split(":")
    return int(parts[-2]), int(parts[-1])


def glob_regex(pattern: str) -> re.Pattern:
    """Glob with `**` (any number of directories, also none), `*` and `?` (not across /)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_patterns() -> list[str]:
    pats = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            p = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
            pats.append(("!" if neg else "") + p)
    return pats


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Whether `rel` (relative to the build context) is left out of the context: a pattern
    matching the path or one of its parent folders excludes it; the last match wins."""
    parts = PurePosixPath(posixpath.normpath(rel)).parts
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        rx = glob_regex(pat[1:] if neg else pat)
        if any(rx.match(c) for c in candidates):
            excluded = not neg
    return excluded


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def torch_pins(text: str) -> set[str]:
    return set(re.findall(r"\btorch==([0-9][0-9A-Za-z.+]*)", text))


def serve_defaults():
    from envaudio.cli import build_parser

    return build_parser().parse_args(["serve"])


def iter_routes(routes, prefix: str = ""):
    """(kind, path, methods) of every route of the app, through included routers (which
    newer FastAPI versions keep as nested objects instead of copying their routes)."""
    from starlette.routing import Mount, WebSocketRoute
    from fastapi.routing import APIWebSocketRoute

    for r in routes:
        if hasattr(r, "original_router"):  # FastAPI's _IncludedRouter
            yield from iter_routes(r.original_router.routes, prefix + (r.include_context.prefix or ""))
        elif isinstance(r, Mount):
            yield "mount", prefix + r.path, None
        elif isinstance(r, (APIWebSocketRoute, WebSocketRoute)):
            yield "websocket", prefix + r.path, None
        else:
            yield "http", prefix + r.path, set(getattr(r, "methods", None) or ())


@pytest.fixture(scope="module")
def app():
    from envaudio.server import create_app

    return create_app()


@pytest.fixture(scope="module")
def app_routes(app) -> list[tuple[str, str, set | None]]:
    routes = list(iter_routes(app.routes))
    # The walk must see everything the OpenAPI schema lists (else it missed a router).
    seen = {p for kind, p, _ in routes if kind == "http"}
    assert set(app.openapi()["paths"]) <= seen, set(app.openapi()["paths"]) - seen
    return routes


def api_paths(routes) -> list[tuple[str, str]]:
    """Every path the API answers, as a concrete URI (path parameters filled in); not the
    web app ("/" and the static mount)."""
    out = []
    for kind, path, _ in routes:
        if kind == "mount" or path == "/":
            continue
        out.append((kind, re.sub(r"\{[^}]+\}", "x.flac", path)))
    return out


@pytest.fixture(scope="module")
def main_stages():
    return parse_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def web_stages():
    return parse_dockerfile(WEB_DOCKERFILE)


@pytest.fixture(scope="module")
def compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def nginx_server() -> Block:
    (server,) = parse_nginx(NGINX_CONF.read_text()).children("server")
    return server


def nginx_listen_port(server: Block) -> int:
    ports = {int(re.search(r"(\d+)$", l[0]).group(1)) for l in server.get("listen")}
    assert len(ports) == 1, ports
    return ports.pop()


def nginx_upstream(server: Block, loc: Location) -> tuple[str, int]:
    target = loc.block.one("proxy_pass")[0]
    if target.startswith("$"):
        sets = {s[0]: s[1] for s in server.get("set")}
        for l in loc.block.get("set"):
            sets[l[0]] = l[1]
        target = sets[target]
    u = urlsplit(target)
    return u.hostname, u.port or 80


# ------------------------------------------------------------------ tests

def test_files_present():
    for p in (DOCKERFILE, WEB_DOCKERFILE, COMPOSE, NGINX_CONF, DOCKERIGNORE):
        assert p.is_file(), p


def test_api_ports_agree_with_envaudio_serve(main_stages, compose, nginx_server):
    port = serve_defaults().port
    final = main_stages[-1]
    assert [int(p.split("/")[0]) for e in final.all("EXPOSE") for p in e.split()] == [port]
    cmd = exec_form(final.all("CMD")[-1])
    assert cmd[cmd.index("--port") + 1] == str(port)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0", "in a container, listen on every interface"
    for url in urls_in(healthcheck_cmd(final)):
        assert urlsplit(url).port == port, url

    api = compose["services"]["api"]
    assert [port_mapping(p) for p in api["ports"]] == [(port, port)]
    for url in urls_in(api["healthcheck"]["test"]):
        assert urlsplit(url).port == port, url

    for loc in locations(nginx_server):
        if loc.proxied:
            host, p = nginx_upstream(nginx_server, loc)
            assert host == "api" and "api" in compose["services"], f"{loc.pattern}: proxies to {host}"
            assert p == port, f"nginx location {loc.pattern} proxies to port {p}, envaudio serves {port}"


def test_web_ports_agree(web_stages, compose, nginx_server):
    listen = nginx_listen_port(nginx_server)
    web = compose["services"]["web"]
    (published, container), = [port_mapping(p) for p in web["ports"]]
    assert container == listen, f"compose maps to {container}, nginx listens on {listen}"
    final = web_stages[-1]
    assert [int(p.split("/")[0]) for e in final.all("EXPOSE") for p in e.split()] == [listen]
    for url in urls_in(healthcheck_cmd(final)):
        assert urlsplit(url).port == listen, url
    # The web app's address of the original design (and of `npm run dev`).
    dev_port = int(re.search(r"server:\s*\{[^}]*?\bport:\s*(\d+)", VITE_CONFIG.read_text()).group(1))
    assert published == dev_port == 5173
    assert published != port_mapping(compose["services"]["api"]["ports"][0])[0]


def test_compose_profiles_and_origins(compose):
    services = compose["services"]
    assert "profiles" not in services["api"], "`docker compose up` must start the api"
    assert services["web"]["profiles"] == ["nginx"]
    assert services["web"]["depends_on"]["api"]["condition"] == "service_healthy"
    api_port = port_mapping(services["api"]["ports"][0])[0]
    web_port = port_mapping(services["web"]["ports"][0])[0]
    env = services["api"]["environment"]
    origins = compose_value(env["ALLOWED_ORIGINS"]).split(",")
    for port in (api_port, web_port):
        assert f"http://localhost:{port}" in origins, origins
    from envaudio.settings import Settings

    s = Settings.from_env({k: compose_value(v) for k, v in env.items()})  # valid values
    assert s.origins == origins
    # The variables compose sets are ones the package reads.
    known = {f"ENVAUDIO_{n.upper()}" for n in Settings.__dataclass_fields__}
    known |= {"ALLOWED_ORIGINS", "ALLOWED_HOSTS", "MAX_UPLOAD_MB", "AUDIO_LOADER", "FFMPEG_TIMEOUT_SECONDS",
              "FORWARDED_ALLOW_IPS"}  # the last one is uvicorn's
    assert set(env) <= known, set(env) - known


def test_workers_env_reaches_envaudio_serve(main_stages, monkeypatch):
    """The image's ENVAUDIO_SERVE_WORKERS is what `envaudio serve` (its CMD, no --workers)
    starts."""
    from envaudio.cli import build_parser

    env = dict(re.findall(r"(ENVAUDIO_SERVE_WORKERS)=(\S+)", " ".join(main_stages[-1].all("ENV"))))
    assert env, "the image sets ENVAUDIO_SERVE_WORKERS"
    cmd = exec_form(main_stages[-1].all("CMD")[-1])
    assert "--workers" not in cmd
    monkeypatch.setenv("ENVAUDIO_SERVE_WORKERS", "3")
    assert build_parser().parse_args(cmd[1:]).workers == 3


def test_the_server_runs_under_an_init(main_stages, compose):
    """PID 1 must forward SIGTERM (so requests get their grace period, then a JSON 503) and
    reap exited processes (uvicorn's workers, ffmpeg): tini, installed in the final stage
    and its entrypoint in exec form, so `docker run` needs no --init."""
    final = main_stages[-1]
    entrypoint = exec_form(final.all("ENTRYPOINT")[-1])
    assert entrypoint == ["tini", "--"], entrypoint
    installs = [shlex.split(r) for r in final.all("RUN") if "apt-get" in r]
    assert any("install" in words and "tini" in words for words in installs), installs
    api = compose["services"]["api"]
    assert "entrypoint" not in api, "compose must keep the image's init"
    assert not api.get("init"), "a second init (compose's) in front of tini"
    assert exec_form(final.all("CMD")[-1])[0] == "envaudio"


def test_cmd_is_the_packaged_entry_point(main_stages):
    cmd = exec_form(main_stages[-1].all("CMD")[-1])
    scripts = pyproject()["project"]["scripts"]
    assert cmd[0] in scripts, f"{cmd[0]} is not in [project.scripts] {scripts}"
    module, _, func = scripts[cmd[0]].partition(":")
    import importlib

    main = getattr(importlib.import_module(module), func)
    assert callable(main)
    from envaudio.cli import build_parser

    args = build_parser().parse_args(cmd[1:])  # exits (SystemExit) on an unknown option
    assert args.command == "serve"


def test_torch_pin_is_the_same_everywhere_and_serving_is_lean():
    """torch is pinned once, in the train extra, and bootstrap.sh installs that pin for
    ./test.sh (ENVAUDIO_EXTRAS=train,test) only; the default install, ./run.sh and the
    serving image have no PyTorch (issue #27)."""
    project = pyproject()["project"]
    assert not torch_pins(" ".join(d.replace(" ", "") for d in project["dependencies"]))
    assert not any(d.split("=")[0].split(">")[0].strip() in ("torch", "librosa", "matplotlib", "scipy", "onnx")
                   for d in project["dependencies"])
    (pin,) = torch_pins(" ".join(d.replace(" ", "") for d in project["optional-dependencies"]["train"]))
    assert torch_pins(BOOTSTRAP.read_text()) == {pin}
    assert 'ENVAUDIO_EXTRAS=train,test' in (ROOT / "test.sh").read_text()
    assert 'ENVAUDIO_EXTRAS=""' in (ROOT / "run.sh").read_text()
    text = DOCKERFILE.read_text()
    assert not torch_pins(text) and "pip install .[" not in text and "pip install . " in text


def test_base_images_fit_the_project(main_stages, web_stages):
    py = re.fullmatch(r"python:(\d+)\.(\d+)(?:[.-].*)?", main_stages[-1].image)
    assert py, main_stages[-1].image
    need = re.search(r">=\s*(\d+)\.(\d+)", pyproject()["project"]["requires-python"])
    assert (int(py[1]), int(py[2])) >= (int(need[1]), int(need[2]))
    engines = json.loads(PACKAGE_JSON.read_text())["engines"]["node"]
    node_need = int(re.search(r">=\s*(\d+)", engines).group(1))
    for stages in (main_stages, web_stages):
        node = re.fullmatch(r"node:(\d+)(?:[.-].*)?", stages[0].image)
        assert node and int(node[1]) >= node_need, stages[0].image
    # Both build the web app the same way.
    assert main_stages[0].image == web_stages[0].image
    assert main_stages[0].instructions == web_stages[0].instructions


def test_copied_paths_exist_and_are_in_the_build_context(main_stages, web_stages, compose):
    pats = dockerignore_patterns()
    contexts = {"api": (ROOT, DOCKERFILE), "web": (ROOT, WEB_DOCKERFILE)}
    for name, (context, dockerfile) in contexts.items():
        b = compose["services"][name]["build"]
        b = {"context": b} if isinstance(b, str) else b
        assert (ROOT / b["context"]).resolve() == context
        assert (context / b.get("dockerfile", "Dockerfile")).resolve() == dockerfile
    for stages in (main_stages, web_stages):
        names = {s.name for s in stages if s.name}
        for c in copies(stages):
            if c.from_stage is not None:
                assert c.from_stage in names, f"COPY --from={c.from_stage}: no such stage"
                continue
            for src in c.sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
                assert not dockerignored(src, pats), f"COPY {src}: excluded by .dockerignore"
    # Everything the package and the frontend build are made of reaches the context.
    needed = [p for p in (ROOT / "src").rglob("*") if p.is_file()
              and "__pycache__" not in p.parts and ".egg-info" not in str(p)
              and (ROOT / "src" / "envaudio" / "web") not in p.parents]
    fe = ROOT / "frontend"
    needed += [fe / n for n in ("package.json", "package-lock.json", "index.html", "vite.config.js")]
    needed += [p for d in ("src", "public") for p in (fe / d).rglob("*") if p.is_file()]
    assert len(needed) > 20
    for p in needed:
        rel = p.relative_to(ROOT).as_posix()
        assert not dockerignored(rel, pats), f"{rel} is needed in the image but excluded by .dockerignore"
    # ... and what must not: the venv, node_modules, data, the git history, stale builds.
    for rel in (".venv/bin/python", "frontend/node_modules/vite/package.json", ".git/HEAD",
                "data/x.csv", "runs/a/model.pt", "artifacts/cnn.pt", "test-artifacts/x.png",
                "src/envaudio/web/index.html", "src/envaudio/__pycache__/cli.cpython-311.pyc"):
        assert dockerignored(rel, pats), f"{rel} would be sent to the docker build"


def test_healthcheck_is_a_real_route(main_stages, compose, app, app_routes):
    from fastapi.testclient import TestClient

    urls = urls_in(healthcheck_cmd(main_stages[-1])) + urls_in(compose["services"]["api"]["healthcheck"]["test"])
    assert urls and len({urlsplit(u).path for u in urls}) == 1, urls
    path = urlsplit(urls[0]).path
    assert any(kind == "http" and p == path and "GET" in m for kind, p, m in app_routes), \
        f"{path} is not a GET route of the app"
    u = urlsplit(urls[0])
    # the healthcheck's own Host (127.0.0.1:8000) must pass the app's Host check
    with TestClient(app, base_url=f"{u.scheme}://{u.netloc}") as client:  # 200 once the model is loaded
        r = client.get(path)
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text


def test_nginx_proxies_every_api_route(nginx_server, app_routes):
    locs = locations(nginx_server)
    paths = api_paths(app_routes)
    assert {"/health", "/predict", "/ws/predict"} <= {p for _, p in paths}
    for kind, path in paths:
        loc = nginx_pick(locs, path)
        assert loc is not None and loc.proxied, f"nginx does not proxy {kind} route {path}"
        hdr = loc.headers()
        assert hdr.get("host") == "$http_host", f"{loc.pattern}: pass the Host (with port) on"
        assert "x-forwarded-for" in hdr and "x-forwarded-proto" in hdr, loc.pattern
        if kind == "websocket":
            assert loc.block.one("proxy_http_version") == ["1.1"]
            assert hdr.get("upgrade") == "$http_upgrade", f"{path}: no WebSocket upgrade"
            assert hdr.get("connection") in ("$connection_upgrade", "upgrade"), path
            assert int(loc.block.one("proxy_read_timeout")[0].rstrip("s")) >= 600, \
                f"{path}: a live stream would be cut after nginx's read timeout"
    # The map behind $connection_upgrade, at http level (the file is included there).
    maps = parse_nginx(NGINX_CONF.read_text()).children("map")
    assert any(m.args[1:] == ["$http_upgrade", "$connection_upgrade"] for m in maps)
    # And the web app itself is served by nginx, not proxied.
    for uri in ("/", "/index.html", "/favicon.svg", "/assets/index-abc123.js"):
        loc = nginx_pick(locs, uri)
        assert loc is not None and not loc.proxied, f"{uri} should be a static file"


def test_nginx_body_limit_leaves_uploads_to_envaudio(nginx_server, compose):
    from envaudio.settings import Settings

    limit = nginx_size(nginx_server.one("client_max_body_size")[0])
    mb = float(compose_value(compose["services"]["api"]["environment"]["MAX_UPLOAD_MB"]))
    assert mb == Settings().max_upload_mb
    # Above MAX_UPLOAD_MB (+ room for the multipart envelope): envaudio answers the 413.
    assert limit >= mb * 1024 * 1024 + 64 * 1024, (limit, mb)


def test_frontend_build_lands_where_it_is_served(main_stages, web_stages, nginx_server, app):
    from envaudio.settings import PACKAGE_DIR

    out_dir = re.search(r"outDir:\s*['\"]([^'\"]+)['\"]", VITE_CONFIG.read_text()).group(1)
    built = (VITE_CONFIG.parent / out_dir).resolve()
    assert built == (ROOT / "src" / "envaudio" / "web").resolve()
    # create_app() serves PACKAGE_DIR/web (a page saying how to build it when absent).
    mounts = [r for r in app.routes if getattr(r, "name", None) == "web"]
    if mounts:
        assert Path(mounts[0].app.directory).resolve() == (PACKAGE_DIR / "web").resolve()
    if PACKAGE_DIR.resolve() == (ROOT / "src" / "envaudio").resolve():  # editable install
        assert built == (PACKAGE_DIR / "web").resolve()

    # In both images, the web stage's build output is what gets copied.
    rel_in_repo = built.relative_to(ROOT).as_posix()  # src/envaudio/web
    for stages in (main_stages, web_stages):
        wd = stages[0].workdir_at(len(stages[0].instructions))  # .../frontend
        stage_out = posixpath.normpath(posixpath.join(wd, out_dir))
        (c,) = [c for c in copies(stages) if c.from_stage == stages[0].name]
        assert posixpath.normpath(c.sources[0]) == stage_out, (c.sources, stage_out)
        if stages is main_stages:
            # ... into the package source before `pip install .`, next to pyproject.toml.
            (pp,) = [x for x in copies(stages) if "pyproject.toml" in x.sources]
            assert posixpath.normpath(c.dest_abs) == posixpath.normpath(posixpath.join(pp.dest_abs, rel_in_repo))
        else:
            (root,) = nginx_server.one("root")
            assert posixpath.normpath(c.dest_abs) == posixpath.normpath(root)


def test_package_data_covers_assets_and_web():
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["envaudio"]
    pkg = ROOT / "src" / "envaudio"
    files = [p.relative_to(pkg).as_posix() for p in (pkg / "assets").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert "assets/accurate.envaudio" in files and "assets/examples/examples.json" in files
    assert not [f for f in files if f.endswith(".pt")]  # training files stay out of the package (models/)
    files += [p.relative_to(pkg).as_posix() for p in (pkg / "web").rglob("*") if p.is_file()]
    files += ["web/index.html", "web/assets/index-abc123.js"]  # also when not built here
    for f in files:
        if PurePosixPath(f).name.startswith("."):
            continue  # .build-hash: bootstrap.sh's stamp, not needed in a wheel
        assert any(glob_regex(p).match(f) for p in patterns), f"{f} is not package data ({patterns})"


@pytest.mark.slow
def test_wheel_contains_model_examples_and_web(tmp_path):
    """A non-editable install (what the image does) has the model, the example clips and
    the web app: build the wheel from a copy of what the Dockerfile copies."""
    src = tmp_path / "ctx"
    src.mkdir()
    shutil.copy2(PYPROJECT, src / "pyproject.toml")
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "web"))
    web = src / "src" / "envaudio" / "web"  # stand-in for the stage-1 build
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html>")
    (web / "assets" / "index-abc123.js").write_text("//")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "-w", str(tmp_path / "whl"),
                        "--no-deps", "--no-build-isolation", "-q"],
                       capture_output=True, text=True, timeout=240)
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip(f"cannot build without isolation here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr
    import zipfile

    (whl,) = (tmp_path / "whl").glob("envaudio-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    assert "envaudio/assets/accurate.envaudio" in names and not [n for n in names if n.endswith(".pt")]
    examples = json.loads((ROOT / "src/envaudio/assets/examples/examples.json").read_text())["examples"]
    assert {f"envaudio/assets/examples/{e['file']}" for e in examples} <= names
    assert "envaudio/assets/examples/examples.json" in names
    assert {"envaudio/web/index.html", "envaudio/web/assets/index-abc123.js"} <= names
    assert "envaudio/server/app.py" in names


def test_hadolint():
    exe = shutil.which("hadolint")
    if not exe:
        pytest.skip("hadolint not installed")
    for f in (DOCKERFILE, WEB_DOCKERFILE):
        r = subprocess.run([exe, "--failure-threshold", "error", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------ with a real nginx

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx not installed")


def local_nginx_conf(tmp: Path, listen: int, api_port: int, web_root: Path) -> Path:
    """deploy/nginx.conf for this machine: the same server block, listening on a free
    port, proxying to a local envaudio instead of the `api` service, in a main config."""
    text = NGINX_CONF.read_text()
    text, n1 = re.subn(r"listen\s+\d+;", f"listen 127.0.0.1:{listen};", text)
    text, n2 = re.subn(r"http://api:\d+", f"http://127.0.0.1:{api_port}", text)
    text, n3 = re.subn(r"root\s+[^;]+;", f"root {web_root};", text)
    assert n1 == 1 and n2 == 1 and n3 == 1
    (tmp / "logs").mkdir(exist_ok=True)
    (tmp / "site.conf").write_text(text)
    main = tmp / "nginx.conf"
    # As root, nginx's workers would switch to an account that cannot read tmp_path.
    user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    main.write_text(f"""
{user}
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/logs/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; application/javascript js; text/css css; image/svg+xml svg; }}
    include {tmp}/site.conf;
}}
""")
    return main


@needs_nginx
def test_nginx_config_syntax(tmp_path):
    conf = local_nginx_conf(tmp_path, 18080, 18000, tmp_path)
    r = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "logs/e.log")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


@needs_nginx
@pytest.mark.slow
def test_nginx_in_front_of_envaudio(tmp_path):
    """The web app from nginx, the API and the WebSocket through it (with a Host/Origin as
    a browser on nginx's address sends them), and envaudio's own 413 for large uploads."""
    import asyncio
    import time

    import httpx

    from server_helpers import ServerProcess, free_port, multipart, tone, wav

    web_root = tmp_path / "web"
    (web_root / "assets").mkdir(parents=True)
    (web_root / "index.html").write_text("<!doctype html><title>envaudio</title>")
    (web_root / "assets" / "index-abc.js").write_text("console.log(1)")
    with ServerProcess(env={"MAX_UPLOAD_MB": "1"}, log_dir=tmp_path) as api:
        port = free_port()
        conf = local_nginx_conf(tmp_path, port, api.port, web_root)
        proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "logs/e.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(base + "/", timeout=2)
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
                    time.sleep(0.1)
            r = httpx.get(base + "/")
            assert r.status_code == 200 and "<title>envaudio</title>" in r.text
            assert "immutable" in httpx.get(base + "/assets/index-abc.js").headers["cache-control"]
            r = httpx.get(base + "/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert httpx.get(base + "/examples").json()
            body, ctype = multipart({"file": ("tone.wav", wav(tone(440, 2.0)), "audio/wav")})
            r = httpx.post(base + "/predict?reduce_payload=true", content=body, headers={"content-type": ctype})
            # a steady tone is no class of the model's: top_prediction may be null, with its reason
            assert r.status_code == 200 and r.json()["windows"] and "top_prediction_reason" in r.json(), r.text
            big, ctype = multipart({"file": ("big.wav", wav(tone(440, 40.0)), "audio/wav")})  # ~1.7 MB
            r = httpx.post(base + "/predict", content=big, headers={"content-type": ctype}, timeout=30)
            assert r.status_code == 413 and "detail" in r.json(), r.text  # envaudio's, not nginx's

            async def stream():
                import websockets

                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/predict",
                                              origin=f"http://127.0.0.1:{port}") as ws:
                    await ws.send(json.dumps({"sample_rate": 22050}))
                    assert json.loads(await ws.recv())["type"] == "ready"
                    await ws.send(tone(440, 4.0).tobytes())
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        if msg["type"] == "prediction":
                            return msg

            assert asyncio.run(stream())["top_prediction"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
