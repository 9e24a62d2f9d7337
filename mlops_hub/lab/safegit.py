"""Run `git` so that nothing a repository holds can make it run a command.

Team folders are shared read-write by servers that all run as the same uid, so anyone in
the team can write a shared repository's `.git/config`, hooks and `.gitattributes`. Every
git call of the extension and of the MLflow context provider goes through `run_git`, which

- overrides the config keys that run programs (fsmonitor, hooks, pager, ssh, askpass,
  credential helpers, signing, every filter driver the repository defines) at command-line
  scope, which beats repository, include and global config;
- forbids every transport (the push allows its one scheme itself, in a clean repository);
- hands git an environment built from an allow-list, so neither the hub's API token nor
  a stray `GIT_*` variable of the server reaches git or anything it starts.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from .errors import GitFailed
from .redact import redact_urls

# config that would run a program or hand out credentials, neutralised for every call
SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),  # runs on every index read (status, ls-files, update-index)
    ("core.hooksPath", os.devnull),  # no hook of any name exists under /dev/null
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),  # our GIT_ASKPASS (environment) is the only askpass
    ("credential.helper", ""),  # an empty value drops every helper configured before it
    ("commit.gpgSign", "false"),
    ("gpg.program", "false"),
    ("diff.external", ""),
    # every transport is off unless a call allows one; per-protocol keys beat protocol.allow
    ("protocol.allow", "never"),
    *((f"protocol.{p}.allow", "never") for p in ("file", "git", "ssh", "ext", "http", "https")),
)
# what a git child may inherit from the server's environment: locale, home, proxies, CAs
_ENV_ALLOW = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
})


def base_env() -> dict[str, str]:
    """The server's environment reduced to what git needs (no tokens, no GIT_* steering)."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOW or k.startswith("LC_")}
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a terminal inside a server or kernel
    env.setdefault("LC_ALL", "C")  # stable English messages we can match on
    return env


def config_env(settings: list[tuple[str, str]]) -> dict[str, str]:
    """`settings` as GIT_CONFIG_COUNT/KEY/VALUE: command-line scope, not in argv, and a
    key holding '=' or '.' (a planted driver name) cannot be misparsed as with `-c`."""
    env = {"GIT_CONFIG_COUNT": str(len(settings))}
    for i, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _filter_drivers(cwd: str | os.PathLike[str], env: dict[str, str]) -> list[str]:
    """Names of the filter drivers the repository's config (includes too) defines."""
    proc = subprocess.run(
        ["git", "config", "--null", "--name-only", "--get-regexp", r"^filter\."],
        cwd=str(cwd), env=env, capture_output=True, timeout=30, check=False)
    names = {n.decode(errors="surrogateescape") for n in proc.stdout.split(b"\0") if n}
    return sorted({n[len("filter."):].rsplit(".", 1)[0] for n in names if n.count(".") >= 2})


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str],
    *,
    extra_env: Mapping[str, str] | None = None,
    extra_config: list[tuple[str, str]] | None = None,
    input_bytes: bytes | None = None,
    pass_fds: tuple[int, ...] = (),
    timeout: float = 60,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` in `cwd` with SAFE_CONFIG; raise GitFailed (redacted) on failure.

    `extra_env` adds variables (GIT_INDEX_FILE, askpass); `extra_config` adds settings
    after SAFE_CONFIG, so a caller can allow the one transport it needs; `pass_fds` are
    inherited by git (the askpass pipe).
    """
    env = base_env()
    env.update(extra_env or {})
    settings = list(SAFE_CONFIG)
    try:
        env.update(config_env(settings))
        # a clean filter runs on hash-object --path and on status: empty every driver
        for name in _filter_drivers(cwd, env):
            settings += [(f"filter.{name}.{k}", "") for k in ("clean", "smudge", "process")]
            settings.append((f"filter.{name}.required", "false"))
        settings += extra_config or []
        env.update(config_env(settings))
        proc = subprocess.run(["git", *args], cwd=str(cwd), env=env, input=input_bytes,
                              pass_fds=pass_fds, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed in this environment") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(f"git did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        command = next((a for a in args if not a.startswith("-") and "=" not in a), "")
        raise GitFailed(
            f"git {command} failed: {redact_urls(proc.stderr.decode(errors='replace').strip())}"
        )
    return proc
