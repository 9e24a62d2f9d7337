"""Run inside an environment image (its own Python, standard library only): the installed version of
each package named on the command line, as JSON on stdout.

An argument is `deb:PACKAGE` (a Debian package, from dpkg's database) or a Python distribution name.
`mlops-hub build` sends this file to the image's `python -` and writes the answer into the image's
labels (mlops_hub.deploy.environments); a package that is not installed maps to null.
"""

import json
import subprocess
import sys
from importlib import metadata


def version_of(source):
    if source.startswith("deb:"):
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", source[4:]],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return None
        return proc.stdout.strip() or None
    try:
        return metadata.version(source)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    print(json.dumps({source: version_of(source) for source in sys.argv[1:]}))
