"""The shipped environment catalogue on the real swarm: each image starts as a user server and, in a real
kernel, does its environment's basic job; pip installs from a real package index inside each; the spawn
form lists each one's main packages with the versions its image's label holds; roles limit the choice."""

from __future__ import annotations

import json
import re
import uuid

import docker
import pytest
import requests
from docker.types import ConfigReference, EndpointSpec, RestartPolicy, TaskTemplate
from docker.types import ContainerSpec as DockerContainerSpec

from mlops_hub.deploy.environments import MAIN_PACKAGES_LABEL, parse_main_packages
from mlops_hub.deploy.images import build_test_image
from mlops_hub.policy.image_labels import PACKAGES_LABEL
from tests.support.lab_session import kernel_channels_url, run_cell
from tests.support.wheels import MARK, PROBE, build_wheel

from .conftest import ENVIRONMENTS, REPO
from .test_lab_in_spawned_server import _put_notebook

pytestmark = pytest.mark.swarm

DATA_SCIENCE = """
import mlflow
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

X, y = make_classification(n_samples=400, n_features=8, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LGBMClassifier(n_estimators=30, verbose=-1).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
mlflow.set_experiment("environment-smoke")
with mlflow.start_run() as run:
    mlflow.log_metric("accuracy", accuracy)
    info = mlflow.lightgbm.log_model(model, name="model", input_example=X_test[:2])
# the model comes back from MLflow's artifact store and predicts what the fitted one does
loaded = mlflow.lightgbm.load_model(info.model_uri)
print("RUN", run.info.run_id, "ACCURACY", accuracy, "SAME", (loaded.predict(X_test) == model.predict(X_test)).all())
"""

PYSPARK = """
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.master("local[1]").appName("smoke").getOrCreate()
rows = spark.range(10_000).withColumn("bucket", F.col("id") % 7)
rows.write.mode("overwrite").parquet("spark-smoke.parquet")
back = spark.read.parquet("spark-smoke.parquet")
print("ROWS", back.count(), "BUCKET0", back.filter("bucket = 0").count())
spark.stop()
"""

R_CELL = """
suppressPackageStartupMessages({library(dplyr); library(ggplot2)})
by_cyl <- mtcars %>% group_by(cyl) %>% summarise(n = n(), mpg = mean(mpg))
plot <- ggplot(mtcars, aes(wt, mpg)) + geom_point()
cat("GROUPS", nrow(by_cyl), "CARS", sum(by_cyl$n), "PLOT", class(plot)[1], "R", R.version$major, "\\n")
"""

DATA_ENGINEERING = """
import json
import duckdb, polars as pl, sqlalchemy
sales = pl.DataFrame({"team": ["a", "b", "a", "c", "a", "b"], "amount": [1, 2, 3, 4, 5, 6]})
sales.write_parquet("sales.parquet")
totals = duckdb.sql("select team, sum(amount) as total from 'sales.parquet' group by team order by team").fetchall()
engine = sqlalchemy.create_engine("postgresql+psycopg://nobody@db.invalid/none")  # the driver loads; no connection
print("TOTALS", json.dumps(totals), "DRIVER", engine.dialect.driver)
"""


def pip_cell(index_url: str, host: str) -> str:
    """Waits for the index (its service may still be starting), then pip installs the probe package."""
    return f"""
import importlib, subprocess, sys, time, urllib.request
for _ in range(240):
    try:
        urllib.request.urlopen({index_url!r}, timeout=5)
        break
    except OSError:
        time.sleep(0.5)
done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--index-url", {index_url!r},
                       "--trusted-host", {host!r}, {PROBE!r}], capture_output=True, text=True)
print("PIP", done.returncode, done.stderr[-400:])
if done.returncode == 0:
    probe = importlib.import_module({PROBE!r})
    print("MARK", probe.MARK, "FROM", probe.__file__)
"""


@pytest.fixture(scope="module")
def package_index(hub, stack_settings):
    """A plain PEP 503 index (pypiserver) on the user servers' network, serving one wheel built here."""
    client = hub.docker
    name = f"{stack_settings.stack}-envs-pypi"
    wheel_name, wheel = build_wheel()
    labels = {"com.docker.stack.namespace": stack_settings.stack}  # the stack's removal takes these too
    config_name = f"{stack_settings.stack}_envs_wheel_{uuid.uuid4().hex[:6]}"
    config = client.create_config(config_name, wheel, labels=labels)
    client.create_service(
        TaskTemplate(DockerContainerSpec(
            build_test_image(REPO, "pypiserver"),
            ["pypi-server", "run", "-p", "8080", "-a", ".", "-P", ".", "--disable-fallback", "/data/packages"],
            configs=[ConfigReference(config["ID"], config_name, filename=f"/data/packages/{wheel_name}",
                                     uid="1000", gid="100", mode=0o444)]),
            networks=[stack_settings.network], restart_policy=RestartPolicy("none")),
        name=name, endpoint_spec=EndpointSpec(mode="dnsrr"), labels=labels)
    yield f"http://{name}:8080/simple/", name
    client.remove_service(name)


@pytest.fixture
def start_server(hub):
    """start_server(user, groups, environment, mem) -> the server's URL; every server started is stopped after."""
    started = []

    def start(user: str, groups: list[str], environment: str, mem: str) -> str:
        hub.create_user(user, groups)
        started.append(user)
        r = hub.spawn(user, {"environment": environment, "cpu_limit": 1, "mem_limit": mem})
        assert r.status_code in (201, 202), r.text
        return f"{hub.url}{hub.wait_ready(user)['url']}"

    yield start
    for user in started:
        if hub.server_model(user) is not None:
            hub.stop(user)


def open_kernel(base: str, headers: dict, path: str, kernel: str) -> str:
    """A kernel for the notebook at `path`, started as JupyterLab starts one; its channels URL."""
    r = requests.post(f"{base}api/sessions", headers=headers, timeout=60, json={
        "path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": kernel}})
    assert r.status_code == 201, r.text
    return kernel_channels_url(base, r.json()["kernel"]["id"])


async def check_pip(base: str, headers: dict, package_index) -> None:
    """pip installs from the package index into the environment's own Python."""
    url, host = package_index
    output = await run_cell(open_kernel(base, headers, f"pip-{uuid.uuid4().hex[:6]}.ipynb", "python3"), headers,
                            pip_cell(url, host))
    assert "PIP 0" in output, output
    assert f"MARK {MARK} FROM /opt/venv/lib/" in output, output


async def test_data_science_fits_a_model_and_logs_it_to_mlflow_with_the_notebook_tags(
        hub, user_name, package_index, start_server):
    base = start_server(user_name, ["data-scientists"], "data-science", "1.5G")
    headers = {"Authorization": f"token {hub.token}"}
    project = f"churn-{uuid.uuid4().hex[:6]}"
    _put_notebook(base, headers, project, "train.ipynb",
                  {"id": "train", "execution_count": None, "outputs": [], "source": DATA_SCIENCE})
    output = await run_cell(open_kernel(base, headers, f"{project}/train.ipynb", "python3"), headers, DATA_SCIENCE)
    match = re.search(r"RUN (\w+) ACCURACY ([0-9.]+) SAME (\w+)", output)
    assert match, output
    run_id, accuracy, same = match.group(1), float(match.group(2)), match.group(3)
    assert same == "True" and 0.5 < accuracy <= 1.0, output

    # the run carries the notebook, the environment and the metric: the lab's runs endpoint finds it
    r = requests.get(f"{base}mlops-hub/mlflow/runs", params={"path": f"{project}/train.ipynb"},
                     headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    [run] = r.json()["runs"]
    assert run["run_id"] == run_id
    assert run["notebook"].endswith(f"/{project}/train.ipynb")
    assert run["environment"] == "data-science"
    assert run["metrics"] == {"accuracy": pytest.approx(accuracy)}
    await check_pip(base, headers, package_index)


async def run_in_new_server(start_server, hub, user: str, groups: list[str], environment: str, mem: str,
                            package_index, notebook: str, code: str, kernel: str = "python3") -> str:
    """`code` run in a kernel of a new server of `environment`, whose pip then installs from the index."""
    base = start_server(user, groups, environment, mem)
    headers = {"Authorization": f"token {hub.token}"}
    r = requests.get(f"{base}api/kernelspecs", headers=headers, timeout=30)
    assert r.status_code == 200 and kernel in r.json()["kernelspecs"], r.text
    output = await run_cell(open_kernel(base, headers, notebook, kernel), headers, code)
    await check_pip(base, headers, package_index)
    return output


async def test_pyspark_counts_rows_of_a_parquet_file_in_local_mode(hub, user_name, package_index, start_server):
    output = await run_in_new_server(start_server, hub, user_name, ["data-engineers"], "pyspark", "2G",
                                     package_index, "spark.ipynb", PYSPARK)
    # 10,000 ids, every 7th in bucket 0: ceil(10000 / 7)
    assert "ROWS 10000 BUCKET0 1429" in output, output


async def test_r_runs_an_r_cell_in_the_irkernel(hub, user_name, package_index, start_server):
    output = await run_in_new_server(start_server, hub, user_name, ["data-scientists"], "r", "1G",
                                     package_index, "analysis.ipynb", R_CELL, kernel="ir")
    # mtcars: 32 cars with 4, 6 or 8 cylinders
    assert "GROUPS 3 CARS 32 PLOT gg R 4" in output, output


async def test_data_engineering_queries_with_duckdb_a_parquet_file_polars_wrote(
        hub, user_name, package_index, start_server):
    output = await run_in_new_server(start_server, hub, user_name, ["data-engineers"], "data-engineering", "1G",
                                     package_index, "load.ipynb", DATA_ENGINEERING)
    assert 'TOTALS [["a", 9], ["b", 8], ["c", 4]] DRIVER psycopg' in output, output


def test_each_catalogue_image_labels_its_main_packages_with_installed_versions(images):
    """The label holds what is installed: read again here, with pip's metadata and dpkg, inside the image."""
    client = docker.from_env()
    for slug, image in images[ENVIRONMENTS].items():
        labels = client.images.get(image).labels
        packages = json.loads(labels[PACKAGES_LABEL])
        main = parse_main_packages(labels[MAIN_PACKAGES_LABEL])
        assert [shown for shown, _ in main] == list(packages), slug
        script = ("from importlib.metadata import version\nimport json, subprocess, sys\n"
                  "print(json.dumps([subprocess.run(['dpkg-query', '-W', '-f', '${Version}', s[4:]],"
                  " capture_output=True, text=True).stdout if s.startswith('deb:') else version(s)"
                  " for s in sys.argv[1:]]))")
        out = client.containers.run(image, ["python", "-c", script, *[source for _, source in main]],
                                    network_mode="none", remove=True).decode()
        for (shown, _), installed in zip(main, json.loads(out), strict=True):
            # Debian's versions are shown without their epoch and packaging revision
            assert installed.split(":")[-1].startswith(packages[shown]), (slug, shown, installed)


def test_a_role_limited_to_some_environments_cannot_start_another(hub, user_name):
    """data-engineers may use python, pyspark and data-engineering only: R is refused, nothing is created."""
    hub.create_user(user_name, ["data-engineers"])
    r = hub.spawn(user_name, {"environment": "r", "cpu_limit": 1, "mem_limit": "1G"})
    assert r.status_code == 400, r.text
    assert "environment" in r.text and "'r'" in r.text, r.text
    assert hub.user_services(user_name) == []


def form_packages(page: str) -> dict[str, str]:
    """slug -> the form's "Includes: ..." line of each environment offered on the spawn page."""
    offered = {}
    for block in page.split('class="form-check ')[1:]:
        slug = re.search(r'name="environment" id="env-([\w-]+)"', block).group(1)
        line = re.search(r'class="[^"]*mlops-packages">Includes:(.*?)</span>', block, re.S)
        offered[slug] = " ".join(line.group(1).split()) if line else ""
    return offered


def test_the_form_lists_each_environment_s_packages_from_its_image_and_only_the_role_s_environments(
        hub, images, user_name):
    client = docker.from_env()
    expected = {slug: ", ".join(f"{name} {version}" for name, version in
                                json.loads(client.images.get(image).labels[PACKAGES_LABEL]).items())
                for slug, image in images[ENVIRONMENTS].items()}

    scientist = f"{user_name}-s"
    page = hub.login(scientist, hub.account(scientist, ["data-scientists"])).get(f"{hub.url}/hub/spawn", timeout=30)
    offered = form_packages(page.text)
    assert {"python", "data-science", "pyspark", "r", "data-engineering"} <= set(offered), offered
    for slug in expected:
        assert offered[slug] == expected[slug], slug
    assert "pandas" in offered["data-science"] and offered["python"] == ""  # lab-base declares no packages

    engineer = f"{user_name}-e"
    page = hub.login(engineer, hub.account(engineer, ["data-engineers"])).get(f"{hub.url}/hub/spawn", timeout=30)
    assert set(form_packages(page.text)) == {"python", "pyspark", "data-engineering"}
