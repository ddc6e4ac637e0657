#!/usr/bin/env python3
"""Control-plane API benchmark (issue 2).

Measures, with wrk, on SQLite and on PostgreSQL:
  * GET /v1/org/{orgId}/resources with 1,000 resources in the org, authenticated by an API key
    (all 1,000 in one response, and the first page of 20);
  * POST /api/v1/auth/login, which is dominated by Argon2id (m=19456 KiB, t=2, p=1).

Usage: bench/api/bench.py [--seconds 15] [--connections 16] [--only sqlite|postgres]
Needs: the .NET SDK, wrk, and PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) for the postgres run.
Everything runs on 127.0.0.1 and is removed afterwards.
"""
import argparse, glob, http.cookiejar, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "Bench-Pass-123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


class Api:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-CSRF-Token", "x-csrf-protection")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        with self.opener.open(req) as r:
            return json.loads(r.read() or b"null")


def start_postgres(work):
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    port = free_port()
    data = os.path.join(work, "pg")
    as_pg = os.geteuid() == 0
    wrap = (lambda c: ["runuser", "-u", "postgres", "--"] + c) if as_pg else (lambda c: c)
    if as_pg:
        shutil.chown(work, "postgres")
    run(wrap([f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-instructions"]))
    run(wrap([f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(work, "pg.log"), "-w", "-o",
              f"-p {port} -h 127.0.0.1 -k {work} -c max_connections=200", "start"]))
    stop = lambda: run(wrap([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]))
    return f"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres", stop


def wrk(url, seconds, connections, headers=(), script=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = run(cmd + [url]).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+(\S+)", out).group(1)
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"wrk saw {non2xx.group(1)} error responses for {url}:\n{out}")
    return rps, p50, p99


def bench(provider, app, work, args):
    ext, integ, internal = free_port(), free_port(), free_port()
    settings = [f"--App:DataDirectory={work}/data", "--RateLimits:Enabled=false", "--Logging:LogLevel:Default=Warning",
                "--Server:ListenAddress=127.0.0.1", f"--Server:ExternalPort={ext}", f"--Server:IntegrationPort={integ}",
                f"--Server:InternalPort={internal}", "--Domains:bench:BaseDomain=bench.test"]
    stop_pg = None
    if provider == "postgres":
        conn, stop_pg = start_postgres(work)
        settings += ["--Database:Provider=postgres", f"--Database:ConnectionString={conn};Maximum Pool Size=100"]
    log = open(os.path.join(work, "server.log"), "w+")
    server = subprocess.Popen(["dotnet", os.path.join(app, "pangolin.dll")] + settings, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        token = None
        for _ in range(600):
            log.seek(0)
            m = re.search(r"SETUP TOKEN.*\n(\S+)", log.read())
            if m:
                token = m.group(1)
                break
            if server.poll() is not None:
                log.seek(0)
                sys.exit("server exited:\n" + log.read())
            time.sleep(0.1)
        dash = Api(f"http://127.0.0.1:{ext}/api/v1/")
        dash.call("PUT", "auth/set-server-admin", {"email": "bench@example.com", "password": PASSWORD, "setupToken": token})
        dash.call("POST", "auth/login", {"email": "bench@example.com", "password": PASSWORD})
        dash.call("PUT", "org", {"orgId": "bench", "name": "Bench"})
        site = dash.call("PUT", "org/bench/site", {"name": "Site", "type": "newt"})["data"]["siteId"]
        t0 = time.time()
        for i in range(1000):
            r = dash.call("PUT", "org/bench/resource", {"name": f"App {i:04d}", "http": True, "domainId": "bench", "subdomain": f"app{i}"})
            dash.call("PUT", f"resource/{r['data']['resourceId']}/target", {"siteId": site, "ip": "10.0.0.1", "port": 8000 + i % 1000})
        seed_s = time.time() - t0
        key = dash.call("PUT", "org/bench/api-key", {"name": "bench", "actionIds": ["listResources"]})["data"]
        bearer = f"Authorization: Bearer {key['apiKeyId']}.{key['apiKey']}"
        listed = Api(f"http://127.0.0.1:{integ}/v1/").call("GET", "org/bench/resources", headers={"Authorization": bearer.split(": ", 1)[1]})
        assert listed["data"]["pagination"]["total"] == 1000, listed["data"]["pagination"]

        results = {"seed_seconds": round(seed_s, 1)}
        url = f"http://127.0.0.1:{integ}/v1/org/bench/resources"
        results["list_all"] = wrk(url, args.seconds, args.connections, [bearer])
        results["list_page20"] = wrk(url + "?pageSize=20", args.seconds, args.connections, [bearer])
        lua = os.path.join(work, "login.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["X-CSRF-Token"] = "x-csrf-protection"\n'
                    f'wrk.body = \'{{"email":"bench@example.com","password":"{PASSWORD}"}}\'\n')
        results["login"] = wrk(f"http://127.0.0.1:{ext}/api/v1/auth/login", args.seconds, 4, script=lua)
        return results
    finally:
        server.terminate()
        server.wait(30)
        if stop_pg:
            stop_pg()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--only", choices=["sqlite", "postgres"])
    args = p.parse_args()
    app = tempfile.mkdtemp(prefix="pangolin-bench-app-")
    run(["dotnet", "publish", os.path.join(ROOT, "src/Pangolin.Server"), "-c", "Release", "-o", app, "--nologo", "-v", "q"])
    rows = []
    for provider in ["sqlite", "postgres"]:
        if args.only and args.only != provider:
            continue
        work = tempfile.mkdtemp(prefix=f"pangolin-bench-{provider}-")
        try:
            r = bench(provider, app, work, args)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for name, label in [("list_all", "GET /v1/org/bench/resources (1,000 items)"),
                            ("list_page20", "GET /v1/org/bench/resources?pageSize=20"),
                            ("login", "POST /api/v1/auth/login (Argon2id)")]:
            rps, p50, p99 = r[name]
            rows.append(f"| {provider} | {label} | {rps:,.0f} | {p50} | {p99} |")
        print(f"{provider}: seeded 1,000 resources with targets in {r['seed_seconds']} s", flush=True)
    shutil.rmtree(app, ignore_errors=True)
    print(f"\nwrk -t1, {args.seconds} s per run; list: {args.connections} connections; login: 4 connections\n")
    print("| database | request | req/s | p50 | p99 |\n|---|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
