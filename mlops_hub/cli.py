"""`mlops-hub`: build the images and run the platform on this machine's swarm."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
from pathlib import Path

from .deploy import doctor, swarmread
from .deploy.dbencoding import build_db_image, migrate_utf8, refuse_unless_utf8
from .deploy.environments import build_environments, environment_builds
from .deploy.health import assess
from .deploy.home import move_home
from .deploy.hubapi import role_limits
from .deploy.images import IMAGE_REPO, RELEASE, build_all, build_lab_image
from .deploy.join import join_instructions, manager_address, worker_join_token
from .deploy.logs import log_targets, show_logs
from .deploy.preflight import PreflightError, run_preflight
from .deploy.progress import WAIT_SECONDS, since_now, wait_for_services
from .deploy.registry import publish, running_own_registry
from .deploy.shell import DeployError, run, say
from .deploy.stack import (
    SHARED_PASSWORD_WARNING,
    StackSettings,
    check_db_url,
    deploy,
    deployed_certificate_line,
    oidc_enabled,
    public_url,
    remove,
    wait_for_hub,
)
from .deploy.status import nodes_table, pool_use, pools_table, servers_table, services_table
from .deploy.tls import expiry_line
from .policy.errors import ConfigError
from .policy.image_pins import registry_flags_error
from .release.hub_client import HubConnection, ReleaseRefused, read_token
from .release.hub_client import release as release_through_hub

HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def find_repo() -> Path:
    """The checkout holding swarm-stack.yml (the CLI runs from an editable install)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (candidate / "swarm-stack.yml").exists():
            return candidate
    raise DeployError("swarm-stack.yml not found: run mlops-hub from the mlops-hub checkout")


def default_ca_bundle() -> str | None:
    # the images trust what this host trusts (corporate CA included) unless told otherwise
    chosen = os.environ.get("MLOPS_HUB_CA_BUNDLE")
    if chosen is not None:
        return chosen or None
    return HOST_CA_BUNDLE if Path(HOST_CA_BUNDLE).exists() else None


def _settings(args) -> StackSettings:
    return StackSettings(
        repo=find_repo(), stack=args.stack, https_port=getattr(args, "https_port", 443),
        http_port=getattr(args, "http_port", 80), state_dir=Path(args.state_dir),
        tls_cert=Path(args.tls_cert) if getattr(args, "tls_cert", None) else None,
        tls_key=Path(args.tls_key) if getattr(args, "tls_key", None) else None,
        tls_hosts=tuple(getattr(args, "tls_host", None) or ()),
        platform_config=Path(args.platform_config) if getattr(args, "platform_config", None) else None,
        oidc_client_secret_file=Path(args.oidc_client_secret_file) if getattr(args, "oidc_client_secret_file", None)
        else None,
        oidc_allow_everyone=bool(getattr(args, "oidc_allow_everyone", False)),
        shared_password=getattr(args, "shared_password", False),
        registry=getattr(args, "registry", None) or IMAGE_REPO,
        own_registry=not getattr(args, "no_registry", False),
        registry_port=getattr(args, "registry_port", 5000),
        prepull=not getattr(args, "no_prepull", False),
    )


def platform_file(args) -> Path:
    return Path(args.platform_config or args.default_platform_config)


def cmd_build(args) -> None:
    refusal = registry_flags_error(args.registry, False)
    if refusal:
        raise PreflightError(refusal)
    repo = find_repo()
    environments = environment_builds(platform_file(args), args.env or ())  # checked before building anything
    if args.env:  # a site's own environment (or some of ours): the lab image it starts from, then it
        built = build_environments(environments, build_lab_image(repo, args.ca_bundle, args.force), args.force)
        for slug, tag in built.items():
            print(f"environment {slug}: {tag}")
        push_built(args, None, built.values())
        return
    tags = build_all(repo, args.ca_bundle, force=args.force)
    release = tags.pop(RELEASE)
    for name, tag in tags.items():
        print(f"{name}: {tag}")
    built = build_environments(environments, tags["lab-base"], args.force)
    for slug, tag in built.items():
        print(f"environment {slug}: {tag}")
    print(f"release tag (MLOPS_TAG; every platform image carries it): {release}")
    push_built(args, release, built.values())


def push_built(args, release: str | None, environment_images) -> None:
    """Push what was built to the site's registry (--registry) or the stack's own (when `up` deployed one)."""
    registry = args.registry or running_own_registry(args.stack)
    if not registry:
        say(f"not pushed: stack {args.stack} has no registry yet (`mlops-hub up` deploys one and pushes), and no"
            " --registry / MLOPS_REGISTRY is set")
        return
    if not args.registry:
        registry = f"{registry}/{IMAGE_REPO}"
    published = publish(registry, release, environment_images)
    for name, digest in published.digests.items():
        print(f"pushed {name}: {registry}/{name}:{release}@{digest}")
    for image, pinned in published.pins.items():
        print(f"pushed {image}: {pinned}")


def spawner_setting_names() -> set[str]:
    """What platform.yaml's `spawner` section may set: MLOpsSwarmSpawner's settings."""
    from .spawner import MLOpsSwarmSpawner  # the hub's dependencies: only for `up`

    return set(MLOpsSwarmSpawner.class_trait_names(config=True))


def default_platform_config() -> str | None:
    try:
        return str(find_repo() / "config" / "platform.yaml")
    except DeployError:
        return None


def first_admin(environ) -> str:
    """The admin account the hub creates at its first start (the first of MLOPS_HUB_ADMIN_USERS)."""
    names = [n.strip() for n in environ.get("MLOPS_HUB_ADMIN_USERS", "admin").split(",") if n.strip()]
    return names[0] if names else "admin"


def address(settings: StackSettings) -> str:
    """The https address people use: the first --tls-host, else this host's name."""
    host = settings.tls_hosts[0] if settings.tls_hosts else socket.getfqdn()
    return public_url(host, settings.https_port)


def login_lines(settings: StackSettings, oidc: bool, new_admin_password: bool) -> str:
    """How to log in, for `up`'s summary; the admin's generated password only on the `up` that made it."""
    secrets = settings.secrets_dir
    url = f"{address(settings)}/hub"
    if oidc:
        return f"  log in:              through {os.environ['MLOPS_OIDC_ISSUER']} (your groups are your roles)\n"
    admin = first_admin(os.environ)
    if settings.shared_password:
        return (f"  log in as an admin:  user '{admin}', password: cat {secrets / 'admin_password'}\n"
                f"  log in as a user:    any user name,  password: cat {secrets / 'user_password'}\n"
                f"  {SHARED_PASSWORD_WARNING}\n")
    if new_admin_password:
        password = (secrets / "admin_password").read_text().strip()
        admin_line = (f"  admin account:       user '{admin}', password {password}\n"
                      f"                       (shown this once; kept in {secrets / 'admin_password'})\n")
    else:
        admin_line = (f"  admin account:       user '{admin}'; its first password is in {secrets / 'admin_password'}\n"
                      f"                       (if not changed since; to reset it: docs/accounts.md)\n")
    return (f"  log in:              each person signs up at {url}/signup; an admin approves at {url}/authorize\n"
            + admin_line)


def cmd_up(args) -> None:
    registry_refusal = registry_flags_error(args.registry, args.no_registry)
    if registry_refusal:
        raise PreflightError(registry_refusal)
    settings = _settings(args)
    oidc = oidc_enabled(settings, os.environ)
    check_db_url(os.environ)
    environments = environment_builds(platform_file(args))  # a missing build folder stops `up` before any build
    tags = build_all(settings.repo, args.ca_bundle)
    settings.tag = tags[RELEASE]  # every platform image, built here, carries it
    build_environments(environments, tags["lab-base"])
    refuse_unless_utf8(settings.stack, settings.image("postgres"))
    new_admin_password = not (settings.secrets_dir / "admin_password").exists()  # deploy() generates it
    since = since_now()
    deploy(settings)
    say(f"waiting up to {args.wait:.0f}s for every service of stack {settings.stack} to be healthy")
    wait_for_services(settings.stack, stack_observer(settings.stack, since), swarmread.last_log_lines, args.wait)
    wait_for_hub(settings)
    secrets = settings.secrets_dir
    login = login_lines(settings, oidc, new_admin_password)
    print(f"""
mlops-hub is running: {address(settings)}/hub/
  MLflow:              {address(settings)}/mlflow/ (the same login)
  Airflow:             {address(settings)}/airflow/ (the same login)
{tls_lines(settings)}{login}  API token (admin):   {secrets / 'api_token'}
  stop it:             .venv/bin/mlops-hub down --stack {settings.stack}
""")



def tls_lines(settings: StackSettings) -> str:
    tls = settings.tls_files()
    lines = f"  certificate:         {tls.cert}, {expiry_line(tls.cert)}\n"
    if tls.ca:
        lines += (f"  trust this CA once:  {tls.ca}\n"
                  f"                       (browsers and clients: import it; curl --cacert {tls.ca})\n")
    return lines


def cmd_down(args) -> None:
    remove(_settings(args))
    say(f"stack {args.stack} removed (its volumes are kept: docker volume ls)")


def cmd_db_migrate_utf8(args) -> None:
    migrate_utf8(args.stack, build_db_image(find_repo(), args.ca_bundle))


def stack_observer(stack: str, since: dt.datetime | None = None):
    """The stack's services as observations, read anew at each call (services the stack file adds included)."""
    def observe():
        services = swarmread.stack_services(stack)
        return swarmread.observe_services(services, lambda s: swarmread.short_name(stack, s), since)

    return observe


def cmd_status(args) -> None:
    print(run(["docker", "stack", "services", args.stack], quiet=True))
    print(run(["docker", "service", "ls", "--filter", f"label=mlops-hub.prefix={args.stack}-lab"],
              quiet=True))
    print(f"TLS certificate: {deployed_certificate_line(args.stack)}")
    states = [assess(o) for o in stack_observer(args.stack)()]
    print(f"\nservices (restarts: ended tasks in Swarm's task history):\n{services_table(states)}")
    print(f"\nnodes:\n{nodes_table(swarmread.nodes(free=True))}")
    servers = swarmread.user_servers(f"{args.stack}-lab")
    print(f"\nuser servers:\n{servers_table(servers, dt.datetime.now(dt.timezone.utc))}")
    limits, why = role_limits(args.stack, Path(args.state_dir))
    print(f"\npools per role:\n{pools_table(pool_use(servers), limits, why)}")


def cmd_nodes(args) -> None:
    if args.nodes_command == "join-command":
        # the token is printed here, to stdout, and nowhere else (no log, no other command)
        instructions = join_instructions(worker_join_token(), manager_address(), running_own_registry(args.stack),
                                         str(Path(args.state_dir) / "ca" / "ca.crt"))
        if instructions.warning:
            print(f"mlops-hub: warning: {instructions.warning}", file=sys.stderr)
        print("Run this on the new machine to join the swarm as a worker:\n")
        print(f"    {instructions.command}\n")
        for note in instructions.notes:
            print(note)
        return
    print(nodes_table(swarmread.nodes(free=True)))


def cmd_home_move(args) -> None:
    print(move_home(args.stack, args.user, args.to, platform_file(args), args.replace_stale_copy, say))


def cmd_model_release(args) -> int:
    body = {"model": args.model, **{k: v for k, v in (("replicas", args.replicas), ("cpu", args.cpu),
                                                      ("mem", args.mem)) if v is not None}}
    try:
        hub = HubConnection(args.hub_url, read_token(args.token_file), args.ca_cert or True)
        say(f"releasing {args.model} through {args.hub_url} (building and rolling out: up to a few minutes)")
        done = release_through_hub(hub, body)
    except ReleaseRefused as e:
        print(f"mlops-hub: {e}", file=sys.stderr)
        return e.exit_code
    for line in done.get("progress", []):
        say(line)
    print(f"{done['service']}: version {done['version']} answers ({done['state']}); image {done['image']}")
    return 0


def cmd_logs(args) -> int:
    services = [swarmread.short_name(args.stack, s) for s in swarmread.stack_services(args.stack)]
    servers = [(v.labels.user, v.service) for v in swarmread.user_servers(f"{args.stack}-lab")]
    return show_logs(log_targets(args.name, args.stack, services, servers), args.tail, args.follow)


def cmd_doctor(args) -> int:
    options = doctor.DoctorOptions(
        repo=find_repo(), stack=args.stack, state_dir=Path(args.state_dir), platform=platform_file(args),
        ports=(("--https-port", args.https_port), ("--http-port", args.http_port)), probe=not args.no_probe)
    text, code = doctor.report(doctor.run_doctor(options, say))
    print(text, end="")
    return code


def count(value: str) -> int:
    """A whole number >= 0, for argparse."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}")
    return int(value)


def port_number(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {value!r}")
    return int(value)


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return number


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line naming the argument, not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="mlops-hub", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, stack=True):
        sp.add_argument("--ca-bundle", default=default_ca_bundle(),
                        help="extra CA bundle trusted inside the images (default: this host's)")
        if stack:
            sp.add_argument("--stack", default="mlops-hub", help="stack name (default mlops-hub)")
            sp.add_argument("--state-dir", default="/var/lib/mlops-hub",
                            help="where generated secrets are kept")

    b = sub.add_parser("build", help="build the images (only what changed)")
    common(b, stack=False)
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--platform-config", help="the environments to build (default config/platform.yaml)")
    b.add_argument("--env", action="append", metavar="NAME",
                   help="build only this environment of platform.yaml (its `build` folder) and the lab image"
                        " it starts from (repeatable)")
    b.add_argument("--stack", default="mlops-hub", help="push to this stack's registry when `up` deployed one"
                                                       " (default mlops-hub)")
    b.add_argument("--registry", default=os.environ.get("MLOPS_REGISTRY") or None, metavar="HOST/PATH",
                   help="push to this path of your site's registry instead (default: MLOPS_REGISTRY)")
    b.set_defaults(func=cmd_build, default_platform_config=default_platform_config())

    u = sub.add_parser("up", help="build, deploy the stack and wait for the hub")
    common(u)
    u.add_argument("--https-port", type=int, default=443,
                   help="the front door's https port: the hub, user servers and MLflow (default 443)")
    u.add_argument("--http-port", type=int, default=80, help="redirects to https (default 80)")
    u.add_argument("--tls-cert", help="the certificate (PEM, with its chain) the front door serves;"
                                      " without it and --tls-key a local CA signs one for this host")
    u.add_argument("--tls-key", help="the certificate's private key (PEM, unencrypted; kept as a Swarm secret)")
    u.add_argument("--tls-host", action="append", metavar="NAME",
                   help="another name (or IP) people use to reach this host; the local certificate covers it"
                        " (repeatable; the first is the address `up` prints)")
    u.add_argument("--platform-config", help="environments and role limits (default config/platform.yaml)")
    u.add_argument("--wait", type=seconds, default=WAIT_SECONDS, metavar="SECONDS",
                   help=f"how long to wait for every service to be healthy (default {WAIT_SECONDS:.0f})")
    u.add_argument("--shared-password", action="store_true",
                   help="DANGEROUS: one password for every non-admin name instead of per-person accounts"
                        " (anyone with it can log in as any user; docs/accounts.md)")
    u.add_argument("--oidc-client-secret-file",
                   help="log in through OpenID Connect: the client secret's file (with MLOPS_OIDC_ISSUER,"
                        " MLOPS_OIDC_CLIENT_ID, MLOPS_OIDC_CALLBACK_URL set; docs/quotas.md)")
    u.add_argument("--oidc-allow-everyone", action="store_true",
                   help="with OIDC login and no MLOPS_OIDC_ALLOWED_GROUPS: let every account of the provider"
                        " log in (without this flag `up` refuses)")
    u.add_argument("--registry", default=os.environ.get("MLOPS_REGISTRY") or None, metavar="HOST/PATH",
                   help="push the images to this path of your site's registry (e.g. Artifactory; run `docker"
                        " login` for it first) instead of deploying the platform's own (default: MLOPS_REGISTRY)")
    u.add_argument("--registry-port", type=port_number, default=5000,
                   help="the port of the platform's own registry on this manager's swarm address (default 5000)")
    u.add_argument("--no-registry", action="store_true",
                   help="no registry: the images stay on this node, so user servers run here only (one node)")
    u.add_argument("--no-prepull", action="store_true",
                   help="do not pull the environments' images on every node ahead of the first spawn there")
    # preflight checks platform.yaml's content with the hub's own start-up check, before building
    u.set_defaults(func=cmd_up, spawner_setting_names=spawner_setting_names,
                   default_platform_config=default_platform_config())

    dr = sub.add_parser("doctor", help="check that this machine can run the platform; each failure with its fix")
    dr.add_argument("--stack", default="mlops-hub", help="stack name (default mlops-hub)")
    dr.add_argument("--state-dir", default="/var/lib/mlops-hub", help="where generated secrets are kept")
    dr.add_argument("--platform-config", help="environments and role limits (default config/platform.yaml)")
    dr.add_argument("--https-port", type=int, default=443, help="the port `up` will publish https on (default 443)")
    dr.add_argument("--http-port", type=int, default=80, help="the port `up` will publish http on (default 80)")
    dr.add_argument("--no-probe", action="store_true",
                    help="skip the overlay network probe (two short-lived services; takes seconds)")
    dr.set_defaults(func=cmd_doctor, default_platform_config=default_platform_config())

    d = sub.add_parser("down", help="remove the stack and the user servers it started")
    common(d)
    d.set_defaults(func=cmd_down)

    s = sub.add_parser("status", help="the stack's services with their health, nodes, user servers and pool use")
    common(s)
    s.set_defaults(func=cmd_status)

    n = sub.add_parser("nodes", help="the swarm's nodes: role, state, labels, CPUs and memory (total and free);"
                                      " `nodes join-command`: how a new machine joins")
    n_sub = n.add_subparsers(dest="nodes_command")
    jc = n_sub.add_parser("join-command", help="print the worker join command (with the swarm's join token: keep it"
                                               " secret) and what the new machine needs first")
    jc.add_argument("--stack", default="mlops-hub", help="the stack whose registry the node pulls from (default"
                                                         " mlops-hub)")
    jc.add_argument("--state-dir", default="/var/lib/mlops-hub", help="where the platform's CA is kept")
    n.set_defaults(func=cmd_nodes)

    lg = sub.add_parser("logs", help="a stack service's log (hub, edge, db, mlflow, proxy, ...) or a user's servers'")
    lg.add_argument("name", metavar="SERVICE|USER", help="a service of the stack by its short name, or a hub user name")
    lg.add_argument("--stack", default="mlops-hub", help="stack name (default mlops-hub)")
    lg.add_argument("--tail", type=count, default=100, metavar="N", help="the last N lines (default 100)")
    lg.add_argument("--follow", "-f", action="store_true", help="then keep showing new lines (Ctrl-C stops)")
    lg.set_defaults(func=cmd_logs)

    h = sub.add_parser("home", help="users' homes on local volumes (storage backend local)")
    h_sub = h.add_subparsers(dest="home_command", required=True)
    mv = h_sub.add_parser("move", help="copy a user's home to another node and start their servers there (their"
                                       " servers and jobs must be stopped; the old copy stays)")
    mv.add_argument("user", metavar="USER", help="the hub user name")
    mv.add_argument("--to", required=True, metavar="NODE", help="the node's hostname or ID (see `mlops-hub nodes`)")
    mv.add_argument("--stack", default="mlops-hub", help="stack name (default mlops-hub)")
    mv.add_argument("--platform-config", help="the platform.yaml the stack runs with (default config/platform.yaml)")
    mv.add_argument("--replace-stale-copy", action="store_true",
                    help="the new node has an older copy of this home (a move back): replace its files")
    mv.set_defaults(func=cmd_home_move, default_platform_config=default_platform_config())

    md = sub.add_parser("model", help="models to production (docs/models.md)")
    md_sub = md.add_subparsers(dest="model_command", required=True)
    rl = md_sub.add_parser("release", help="serve a registered MLflow model version as the service model-<name>,"
                                           " through the hub (waits until it answers or is rolled back)")
    rl.add_argument("model", metavar="NAME@ALIAS|NAME/VERSION", help="e.g. churn@champion or churn/3")
    rl.add_argument("--replicas", type=int, help="how many copies serve it (1-8; default 1)")
    rl.add_argument("--cpu", help="CPUs per copy, within your role (default 0.5)")
    rl.add_argument("--mem", help="memory per copy, e.g. 1G, within your role (default 512M)")
    rl.add_argument("--hub-url", default=os.environ.get("MLOPS_HUB_URL", "https://127.0.0.1"),
                    help="the platform's address (default: MLOPS_HUB_URL, else https://127.0.0.1)")
    rl.add_argument("--token-file", help="a file holding your hub token (default: the MLOPS_HUB_TOKEN variable)")
    rl.add_argument("--ca-cert", default=os.environ.get("MLOPS_HUB_CA_CERT") or None,
                    help="the platform's CA certificate, when its certificate is the local CA's"
                         " (default: MLOPS_HUB_CA_CERT; else the system's CAs)")
    rl.set_defaults(func=cmd_model_release)

    db = sub.add_parser("db", help="maintenance of the stack's PostgreSQL cluster")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    m = db_sub.add_parser("migrate-utf8", help="re-create a SQL_ASCII cluster in UTF8, keeping every database"
                                               " (stops the hub, MLflow and the database while it runs)")
    common(m)
    m.set_defaults(func=cmd_db_migrate_utf8)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # outside _run: Python may raise it late, even inside another error's handler
        print("mlops-hub: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    """The verb, after its preflight checks; a user mistake is one line and exit 2."""
    try:
        args = parser().parse_args(argv)
        run_preflight(args.command, args)  # before any image is built or anything deployed
        code = args.func(args)
    except (PreflightError, ConfigError) as e:  # ConfigError: platform.yaml's environments, read by `build`
        print(f"mlops-hub: {e}", file=sys.stderr)
        return 2
    except DeployError as e:
        print(f"mlops-hub: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)  # 2: refused before changing anything (EncodingRefused)
    except OSError as e:
        # a file or directory the user named or owns (state dir, config) that cannot be used
        where = f"{e.filename}: " if e.filename else ""
        print(f"mlops-hub: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
