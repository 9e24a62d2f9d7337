"""Build the platform's images, only when their inputs changed (content hash in the tag)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..names import IMAGE_REPO  # noqa: F401 (re-exported: the CLI and doctor read it here)
from .frontend import build_frontend
from .shell import DeployError, run, run_showing_steps, say, succeeds

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    # paths (relative to the repo) whose content decides whether to rebuild
    inputs: tuple[str, ...]
    # images of RECIPES it copies files from, built first and passed as build args (lab-base ->
    # LAB_BASE_IMAGE); their IDs are part of its hash, so a new one rebuilds it
    copies_from: tuple[str, ...] = ()

    @property
    def dockerfile(self) -> str:
        return f"images/{self.name}/Dockerfile"


# `base` is built from debian:bookworm-slim; every other image FROM base (its ID is in their hash)
BASE_RECIPE = ImageRecipe("base", ("images/base", "images/common", "images/_ca"))
PACKAGE_INPUTS = ("images/common", "pyproject.toml", "README.md", "mlops_hub", "labextension/install.json")
RECIPES = {
    "hub": ImageRecipe("hub", PACKAGE_INPUTS + ("images/hub", "jupyterhub_config.py")),
    "lab-base": ImageRecipe("lab-base", PACKAGE_INPUTS + ("images/lab-base",)),
    # only the modules the MLflow server imports (see images/mlflow/Dockerfile)
    "mlflow": ImageRecipe("mlflow", ("images/mlflow", "mlops_hub/__init__.py", "mlops_hub/names.py",
                                     "mlops_hub/mlflow_server")),
    # only the modules Airflow imports (see images/airflow/Dockerfile): the auth manager, the DAG factory
    "airflow": ImageRecipe("airflow", ("images/airflow", "mlops_hub/__init__.py", "mlops_hub/names.py",
                                       "mlops_hub/airflow")),
    "postgres": ImageRecipe("postgres", ("images/postgres",)),
    # Prometheus, its node exporter and Pushgateway (Debian's): one image, three services
    "prometheus": ImageRecipe("prometheus", ("images/prometheus",)),
    # JupyterLab's content-hashed files from the lab image, served by the edge to every user; the served
    # models' traffic counter (a stand-alone script)
    "edge": ImageRecipe("edge", ("images/edge", "mlops_hub/monitoring/model_traffic.py"), copies_from=("lab-base",)),
    # the image registry every node pulls from (swarm-stack.registry.yml; Debian's docker-registry)
    "registry": ImageRecipe("registry", ("images/registry",)),
}
# built FROM base on demand by the tests that need them (build_test_image), not by `mlops-hub build`
TEST_RECIPES = {
    "pypiserver": ImageRecipe("pypiserver", ("images/pypiserver",)),
    # a Swarm worker node as a container (tests/integration/worker_nodes.py)
    "node": ImageRecipe("node", ("images/node",)),
}


def _files(repo: Path, rel: str):
    path = repo / rel
    if path.is_file():
        yield path
    elif path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                yield f


def content_hash(root: Path, inputs: tuple[str, ...], seed: str) -> str:
    """12 hex digits over `seed` (a parent image's ID) and the files under `root`/`inputs`, with their paths."""
    digest = hashlib.sha256(seed.encode())
    for rel in inputs:
        for f in _files(root, rel):
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def input_hash(repo: Path, recipe: ImageRecipe, base_id: str) -> str:
    return content_hash(repo, recipe.inputs, base_id)


def image_tag(repo: Path, recipe: ImageRecipe, parent_id: str, copied_ids: str = "") -> str:
    """The tag an image built FROM the image `parent_id` from this checkout's inputs gets;
    `copied_ids`: the IDs of the images it copies files from (recipe.copies_from), in order."""
    return f"{IMAGE_REPO}/{recipe.name}:{input_hash(repo, recipe, parent_id + copied_ids)}"


def image_id(ref: str) -> str | None:
    try:
        return run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], quiet=True).strip()
    except DeployError:
        return None


def ensure_base_image() -> str:
    """debian:bookworm-slim: present, pulled, or (no registry here) built with debootstrap."""
    found = image_id(BASE_IMAGE)
    if found:
        return found
    say(f"{BASE_IMAGE} is not present; trying to pull it")
    if succeeds(["docker", "pull", BASE_IMAGE]):
        return image_id(BASE_IMAGE) or ""
    if not shutil.which("debootstrap"):
        raise DeployError(f"cannot pull {BASE_IMAGE} and debootstrap is missing: apt-get install debootstrap")
    say(f"no registry reachable: building {BASE_IMAGE} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="mlops-rootfs-") as root:
        run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm", root,
             DEBIAN_MIRROR], quiet=True)
        run(["sh", "-c", f"tar -C {root} -c . | docker import - {BASE_IMAGE}"], quiet=True)
    return image_id(BASE_IMAGE) or ""


def stage_ca_bundle(repo: Path, ca_bundle: str | None) -> None:
    """Copy the extra CA bundle into the build context (an empty file means none)."""
    target = repo / "images/_ca/extra-ca.crt"
    target.parent.mkdir(parents=True, exist_ok=True)
    content = Path(ca_bundle).read_bytes() if ca_bundle else b""
    if not target.exists() or target.read_bytes() != content:
        target.write_bytes(content)


def build_arg_name(image: str) -> str:
    return image.upper().replace("-", "_") + "_IMAGE"


def build_image(repo: Path, recipe: ImageRecipe, parent: str, force: bool = False,
                built: dict[str, str] | None = None) -> str:
    """Build one image FROM `parent` if its input hash has no image yet; return the hashed tag.
    `built`: tags of the images it copies from (recipe.copies_from)."""
    sources = {name: (built or {})[name] for name in recipe.copies_from}
    parent_id = image_id(parent) or parent
    copied_ids = "".join(image_id(tag) or tag for tag in sources.values())
    tag = image_tag(repo, recipe, parent_id, copied_ids)
    if image_id(tag) and not force:
        say(f"{tag} is up to date")
    else:
        args = {build_arg_name(name): source for name, source in sources.items()}
        docker_build(tag, repo / recipe.dockerfile, repo, {"BASE_IMAGE": parent, **args}, recipe.name)
    run(["docker", "tag", tag, f"{IMAGE_REPO}/{recipe.name}:latest"], quiet=True)
    return tag


def docker_build(tag: str, dockerfile: Path, context: Path, build_args: dict[str, str], name: str) -> None:
    """`docker build`, its steps shown as progress, with how long it took."""
    say(f"building {tag}")
    started = time.monotonic()
    args = [arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")]
    run_showing_steps(["docker", "build", "-f", str(dockerfile), "-t", tag, *args, str(context)], prefix=name)
    say(f"{name}: built in {time.monotonic() - started:.0f} s")


def build_test_image(repo: Path, name: str) -> str:
    """Build an image of TEST_RECIPES (e.g. the package index the integration tests run)."""
    ensure_base_image()
    base = build_image(repo, BASE_RECIPE, BASE_IMAGE)
    return build_image(repo, TEST_RECIPES[name], base)


RELEASE = "release"  # build_all's key for the tag every platform image also carries


def release_tag(image_ids: dict[str, str]) -> str:
    """One tag for a set of platform images, from their IDs: the same images always get the same tag, and the
    stack refers to each as ${MLOPS_REGISTRY}/<name>:${MLOPS_TAG}."""
    digest = hashlib.sha256("".join(f"{name}={image_ids[name]}\n" for name in sorted(image_ids)).encode())
    return f"r-{digest.hexdigest()[:12]}"


def tag_release(built: dict[str, str]) -> str:
    """Tag every platform image (RECIPES) `mlops-hub/<name>:<release>`; return the release tag."""
    ids = {name: image_id(built[name]) or built[name] for name in RECIPES}
    release = release_tag(ids)
    for name in RECIPES:
        run(["docker", "tag", built[name], f"{IMAGE_REPO}/{name}:{release}"], quiet=True)
    return release


def build_base(repo: Path, ca_bundle: str | None = None, force: bool = False) -> str:
    """The image every other one starts from (and the frontend the hub and lab images copy)."""
    ensure_base_image()
    stage_ca_bundle(repo, ca_bundle)
    build_frontend(repo, force)  # into mlops_hub/, an input of the hub and lab images
    return build_image(repo, BASE_RECIPE, BASE_IMAGE, force)


def build_lab_image(repo: Path, ca_bundle: str | None = None, force: bool = False) -> str:
    """Only the lab image (what `mlops-hub build --env NAME` builds an environment FROM)."""
    return build_image(repo, RECIPES["lab-base"], build_base(repo, ca_bundle, force), force)


def build_all(repo: Path, ca_bundle: str | None = None, force: bool = False) -> dict[str, str]:
    """Build what changed; the images by name (content-hash tags), and under RELEASE the tag all carry."""
    base = build_base(repo, ca_bundle, force)
    built = {"base": base}
    for name, recipe in RECIPES.items():  # an image copied from comes earlier in RECIPES
        built[name] = build_image(repo, recipe, base, force, built)
    built[RELEASE] = tag_release(built)
    return built
