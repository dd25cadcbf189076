#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
---
module: convox_volume_info
short_description: List the Convox volumes of a rack, an app or a service and judge their health
version_added: 0.1.0
description:
  - Lists the volume directories under the volumes root for a rack, an app of it, or one
    service, with their size, file count, newest change and health, and the quarantined
    volumes in C(<root>/.convox-trash/) with their age.
  - A volume is unhealthy when its walk meets stale file handles, I/O errors, unreadable
    entries, dangling symbolic links, a file where a directory should be, a mount inside it,
    or files that a process still holds open (NFS C(.nfsXXXX)).
  - Every access runs in a child process with a time limit (O(timeout)); a dead NFS server
    blocks every access, so what could not be reached in time is reported in
    RV(unreachable) instead of hanging the play.
  - Where a volume starts is not recorded on disk. With O(path), exactly that volume of each
    service is reported. Without it, a volume is found by following directories that hold
    exactly one subdirectory from the service directory down
    (C(db/var/lib/postgresql/data)); a volume whose only content is one directory is then
    reported one level too deep.
author:
  - convox.volumes contributors (@convox-volumes)
extends_documentation_fragment:
  - convox.volumes.attributes
options:
  target:
    description:
      - V(rack) for C(<root>/<rack>-<app>/<service>/), V(local) for
        C(<root>/<app>/<service>/).
    type: str
    choices: [rack, local]
    default: rack
  root:
    description: The volumes root; V(/volumes) for a rack, C(~/.convox/volumes) locally.
    type: str
  rack:
    description: The rack. Required when O(target=rack).
    type: str
  app:
    description: Only this app.
    type: str
  service:
    description: Only this service of O(app).
    type: str
  path:
    description: Only the volume with this container path in each service.
    type: str
  timeout:
    description: Seconds the whole listing may take; what is not reached by then is reported.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing.
  idempotent:
    support: full
    details: Reads only.
"""

EXAMPLES = r"""
---
- name: Health of every volume of app a1 on rack r1
  convox.volumes.convox_volume_info:
    rack: r1
    app: a1
  register: volumes

- name: Show the unhealthy ones
  ansible.builtin.debug:
    msg: "{{ volumes.volumes | rejectattr('healthy') | list }}"
"""

RETURN = r"""
root:
  description: The volumes root that was listed.
  returned: always
  type: str
  sample: /volumes
volumes:
  description: One entry per volume directory found.
  returned: always
  type: list
  elements: dict
  sample:
    - host_path: /volumes/r1-a1/db/var/lib/postgresql/data
      rack: r1
      app: a1
      service: db
      bytes: 41943040
      files: 1024
      newest_change: "2026-12-03T17:44:09Z"
      healthy: false
      problems:
        - path: /volumes/r1-a1/db/var/lib/postgresql/data/pg_wal/current
          reason: "dangling symbolic link to '../archive/000001'"
quarantined:
  description: Entries of C(<root>/.convox-trash/) in scope, newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /volumes/.convox-trash/20261203T174409Z-r1-a1-db-var-lib-postgresql-data
      age_seconds: 3600
      host_path: /volumes/r1-a1/db/var/lib/postgresql/data
      rack: r1
      app: a1
      service: db
problems:
  description: Problems of the layout itself, such as a file where an app or service
    directory should be.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /volumes/r1-a1/web
      reason: a regular file where a service directory should be
unreachable:
  description: Paths that did not answer within O(timeout).
  returned: always
  type: list
  elements: str
  sample: ["/volumes/r1-a1/db/var/lib/postgresql/data"]
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    current_user_home,
    default_root,
    normalise_absolute,
)
from ansible_collections.convox.volumes.plugins.module_utils._volume_info import (
    validate_scope,
    volume_info,
)

ARGUMENT_SPEC: dict[str, t.Any] = {
    "target": {"type": "str", "choices": ["rack", "local"], "default": "rack"},
    "root": {"type": "str"},
    "rack": {"type": "str"},
    "app": {"type": "str"},
    "service": {"type": "str"},
    "path": {"type": "str"},
    "timeout": {"type": "float", "default": 60},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("target", "rack", ["rack"])])
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be positive; got {params['timeout']:g}")
    try:
        container_path = validate_scope(params["target"], params["rack"], params["app"],
                                        params["service"], params["path"])
        root = (normalise_absolute(params["root"], "root") if params["root"]
                else default_root(params["target"], current_user_home()))
    except VolumeRuleError as exc:
        module.fail_json(msg=str(exc))

    result = volume_info(target=params["target"], root=root, rack=params["rack"],
                         app=params["app"], service=params["service"],
                         container_path=container_path, timeout=params["timeout"])
    unhealthy = [volume["host_path"] for volume in result["volumes"] if not volume["healthy"]]
    result.setdefault("msg", f"{len(result['volumes'])} volumes, {len(unhealthy)} unhealthy, "
                             f"{len(result['quarantined'])} quarantined, "
                             f"{len(result['unreachable'])} unreachable under {root}")
    if result["unreachable"]:
        module.warn(f"not reached within timeout={params['timeout']:g} s: "
                    f"{', '.join(result['unreachable'])}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
