"""Loading the platform settings into the hub's config, checked when the hub starts.

`configure_platform(c, ...)` is called at the end of jupyterhub_config.py: it copies a section of
platform.yaml into the spawner's config section and builds one settings-only spawner from the final
config, so every setting - from the file or written in jupyterhub_config.py - is parsed and checked
before any user spawns. A bad value stops the hub with a message naming the file (or section) and key.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from traitlets import TraitError
from traitlets.utils.importstring import import_item

from ..policy.errors import ConfigError
from ..policy.platform import load_platform_file


def _spawner_class(c):
    name = c.JupyterHub.spawner_class if "spawner_class" in c.JupyterHub else "mlops_hub.spawner.MLOpsSwarmSpawner"
    return import_item(name) if isinstance(name, str) else name


def settings_only_spawner(spawner_class, config):
    """A spawner made only to read its settings: traitlets resolves its config sections as for a
    user's spawner. dockerspawner renders names from the user at `image` time, so it gets a stand-in."""
    user = SimpleNamespace(name="mlops-hub-settings", groups=[], spawners={}, url="/", id=0)
    return spawner_class(config=config, user=user)


def configure_platform(c, platform_file: Path | None = None, section: str = "spawner") -> None:
    """Apply `section` of platform.yaml (if the file exists) to the spawner, then check the spawner's
    settings; SystemExit naming the file and key when something cannot work."""
    spawner_class = _spawner_class(c)
    known = set(spawner_class.class_trait_names(config=True))
    where = f"{spawner_class.__name__} settings"
    try:
        if platform_file is not None and Path(platform_file).exists():
            where = f"{platform_file}: {section}"
            # syntax and sections here; the settings themselves once merged with this config, below
            document = load_platform_file(Path(platform_file), check=False)
            for key, value in (document.get(section) or {}).items():
                if key not in known:
                    raise ConfigError(key, "not a setting of the spawner; see docs/configuration.md")
                c[spawner_class.__name__][key] = value
        # one settings-only spawner: traitlets resolves every section as for a user's spawner
        settings_only_spawner(spawner_class, c)
    except ConfigError as e:
        raise cannot_start(_located(e, where)) from None
    except TraitError as e:
        raise cannot_start(f"{where}: {e}") from None


def cannot_start(message: str) -> SystemExit:
    """What stops the hub at start-up: one line naming the file (or settings) and the key."""
    return SystemExit(f"mlops-hub: the hub cannot start: {message}")


def _located(e: ConfigError, where: str) -> str:
    message = str(e)
    if message.startswith(where.split(": ")[0]):
        return message  # already names the file
    return f"{where}.{message}" if e.field else f"{where}: {message}"
