# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Filters on the volume layout rules: volume_path, compose_volumes and apps_volumes (docs in
*.yml)."""
from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.convox.volumes.plugins.module_utils._compose import ComposeError
from ansible_collections.convox.volumes.plugins.module_utils._layout import describe_apps
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    current_user_home,
)


def _describe(apps: t.Any, *, rack: str | int | None, target: str, root: str | None,
              home: str | None, named_volumes: str, filter_name: str) -> list[dict[str, t.Any]]:
    try:
        layout = describe_apps(apps, target=target, rack=rack, root=root,
                               home=home or current_user_home(), named_volumes=named_volumes)
    except (VolumeRuleError, ComposeError) as exc:
        raise AnsibleFilterError(f"{filter_name}: {exc}") from None
    return [placed.as_result() for placed in layout.volumes]


def volume_path(entry: t.Any, rack: str | None = None, app: str | None = None,
                service: str | None = None, target: str = "rack", root: str | None = None,
                home: str | None = None, env: dict[str, t.Any] | None = None,
                project_dir: str | None = None, named_volumes: str = "skip") -> str | None:
    """The host path of one volume entry of `service` of `app`."""
    volumes = _describe([{"name": app, "services": {service: [entry]}, "env": env,
                          "project_dir": project_dir}],
                        rack=rack, target=target, root=root, home=home,
                        named_volumes=named_volumes, filter_name="volume_path")
    return volumes[0]["host_path"]


def compose_volumes(compose: t.Any, rack: str | None = None, app: str | None = None,
                    target: str = "rack", root: str | None = None, home: str | None = None,
                    env: dict[str, t.Any] | None = None, project_dir: str | None = None,
                    named_volumes: str = "skip") -> list[dict[str, t.Any]]:
    """Every volume of a parsed compose document, as convox_volume returns them."""
    return _describe([{"name": app, "compose": compose, "env": env, "project_dir": project_dir}],
                     rack=rack, target=target, root=root, home=home,
                     named_volumes=named_volumes, filter_name="compose_volumes")


def apps_volumes(apps: t.Any, rack: str | int | None = None, target: str = "rack",
                 root: str | None = None, home: str | None = None,
                 named_volumes: str = "skip") -> list[dict[str, t.Any]]:
    """Every volume of several apps, given as convox_volume's `apps` option takes them."""
    return _describe(apps, rack=rack, target=target, root=root, home=home,
                     named_volumes=named_volumes, filter_name="apps_volumes")


class FilterModule:
    """Volume layout filters of convox.volumes."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"volume_path": volume_path, "compose_volumes": compose_volumes,
                "apps_volumes": apps_volumes}
