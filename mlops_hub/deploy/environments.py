"""Build the environments platform.yaml gives a `build` folder: each image FROM the lab image, rebuilt only
when its folder or the lab image changed, with its main packages' installed versions in a label.

A folder's Dockerfile declares what the spawn form lists (LABEL org.mlops-hub.main-packages="pandas
R=deb:r-base-core ..."); after the build, the image's own Python reports what is installed
(package_versions_probe.py) and the versions go into the label org.mlops-hub.packages, a JSON object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..policy.environments import EnvironmentCatalogue
from ..policy.errors import ConfigError
from ..policy.image_labels import PACKAGES_LABEL
from ..policy.platform import load_platform_file
from .images import content_hash, docker_build, image_id
from .shell import DeployError, run, say

MAIN_PACKAGES_LABEL = "org.mlops-hub.main-packages"
DEBIAN = "deb:"
_PROBE = Path(__file__).with_name("package_versions_probe.py")
# a Debian version's epoch ("2:"), its Debian revision ("-1~deb12u2") and repacking suffix ("+dfsg")
_DEBIAN_EXTRAS = re.compile(r"^\d+:|[-~].*$|\+dfsg.*$")


@dataclass(frozen=True)
class EnvironmentBuild:
    slug: str
    context: Path  # the folder holding the Dockerfile (the build context)
    image: str  # the reference platform.yaml gives: tagged once built

    @property
    def repository(self) -> str:
        """The image reference without its tag (a registry's host:port stays)."""
        name, _, tag = self.image.rpartition(":")
        return name if name and "/" not in tag else self.image


def environment_builds(platform_file: Path, only: Collection[str] = ()) -> list[EnvironmentBuild]:
    """The environments of platform.yaml that have a `build` folder (only the slugs in `only`, if given)."""
    document = load_platform_file(platform_file, check=False)
    raw = (document.get("spawner") or {}).get("environments") or []
    catalogue = EnvironmentCatalogue.from_config(raw)
    unknown = sorted(set(only) - set(catalogue.slugs))
    if unknown:
        raise ConfigError("--env", f"{', '.join(unknown)}: not an environment of {platform_file}"
                                   f" (there: {', '.join(catalogue.slugs) or 'none'})")
    builds = []
    for index, env in enumerate(catalogue):
        if only and env.slug not in only:
            continue
        if env.build is None:
            if only:
                raise ConfigError(f"environments[{index}].build",
                                  f"{env.slug!r} has no build folder: its image {env.image} is built elsewhere")
            continue
        context = (platform_file.parent / env.build).resolve()
        if not (context / "Dockerfile").is_file():
            raise ConfigError(f"{platform_file}: environments[{index}].build",
                              f"{context} has no Dockerfile (a folder relative to platform.yaml)")
        builds.append(EnvironmentBuild(env.slug, context, env.image))
    return builds


def parse_main_packages(text: str) -> list[tuple[str, str]]:
    """LABEL org.mlops-hub.main-packages: `NAME` or `SHOWN=SOURCE`, SOURCE a Python distribution or
    deb:PACKAGE; (shown name, source) pairs in order."""
    pairs = []
    for item in text.split():
        shown, equals, source = item.partition("=")
        if not equals:
            source, shown = shown, shown.removeprefix(DEBIAN)
        if not shown or not source or source == DEBIAN:
            raise DeployError(f"label {MAIN_PACKAGES_LABEL}: {item!r} is not NAME, SHOWN=NAME or SHOWN=deb:PACKAGE")
        pairs.append((shown, source))
    return pairs


def upstream_version(source: str, version: str) -> str:
    """The version people know: a Debian package's without its epoch, revision and repacking suffix."""
    return _DEBIAN_EXTRAS.sub("", version) if source.startswith(DEBIAN) else version


def packages_label(main: list[tuple[str, str]], installed: Mapping[str, str | None], image: str) -> str:
    """The label's JSON from the probe's answer; a declared package the image lacks fails the build."""
    missing = [source for _, source in main if not installed.get(source)]
    if missing:
        raise DeployError(f"{image}: {MAIN_PACKAGES_LABEL} names {', '.join(missing)}, which the image does not have")
    return json.dumps({shown: upstream_version(source, installed[source]) for shown, source in main})


def image_labels(ref: str) -> dict[str, str]:
    out = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref], quiet=True)
    return json.loads(out) or {}


def labelled(labels: Mapping[str, str]) -> bool:
    """Has the image the versions of the main packages it declares (or declares none)?"""
    return PACKAGES_LABEL in labels or not labels.get(MAIN_PACKAGES_LABEL, "").strip()


def label_with_packages(tag: str) -> None:
    """Write the installed versions of the image's main packages into its packages label (same tag)."""
    labels = image_labels(tag)
    if labelled(labels):
        return
    main = parse_main_packages(labels[MAIN_PACKAGES_LABEL])
    answer = run(["docker", "run", "--rm", "-i", "--network", "none", "--entrypoint", "python", tag, "-",
                  *[source for _, source in main]], quiet=True, input=_PROBE.read_bytes())
    value = packages_label(main, json.loads(answer.strip().splitlines()[-1]), tag)
    # a FROM-only build: the same layers, a config with one label more
    run(["docker", "build", "-q", "-t", tag, "--label", f"{PACKAGES_LABEL}={value}", "-"],
        quiet=True, input=f"FROM {tag}\n".encode())


def build_environment(env: EnvironmentBuild, lab_base: str, force: bool = False) -> str:
    """Build one environment FROM the lab image `lab_base` unless its hash has an image; tag it as
    platform.yaml names it; return the hashed tag."""
    tag = f"{env.repository}:{content_hash(env.context, ('.',), image_id(lab_base) or lab_base)}"
    if image_id(tag) and not force and labelled(image_labels(tag)):
        say(f"{tag} ({env.slug}) is up to date")
    else:
        docker_build(tag, env.context / "Dockerfile", env.context, {"BASE_IMAGE": lab_base}, env.slug)
        label_with_packages(tag)
    run(["docker", "tag", tag, env.image], quiet=True)  # no tag in platform.yaml: docker's `latest`
    return tag


def build_environments(builds: list[EnvironmentBuild], lab_base: str, force: bool = False) -> dict[str, str]:
    """Each environment of `environment_builds(...)` FROM the lab image: slug -> hashed tag."""
    return {env.slug: build_environment(env, lab_base, force) for env in builds}
