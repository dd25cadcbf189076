#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
---
module: convox_volume_restore
short_description: Put a quarantined Convox volume back where it came from
version_added: 0.1.0
description:
  - Moves a volume that M(convox.volumes.convox_volume_clean) quarantined into
    C(<root>/.convox-trash/) back to its volume directory, by a rename.
  - Where it goes is read from the record the quarantine wrote next to the trash entry
    (C(<entry>.json)); O(app), O(service) and O(path) override it, or stand in when the record
    is lost. The destination is checked with the same rules as a clean (strictly inside the
    service directory, no symbolic link below the root, no mount).
  - Refuses when the volume directory holds anything; an empty directory (the one the
    quarantine recreated) is replaced.
  - The rename goes through directories opened one at a time from the root without following
    links (missing ones are created), and replaces only a missing or empty directory, so a
    component swapped for a link, or data written after the checks, fails the task with
    nothing moved.
  - Takes the same per-service lock as the clean.
author:
  - convox.volumes contributors (@convox-volumes)
extends_documentation_fragment:
  - convox.volumes.attributes
options:
  quarantined_to:
    description:
      - The trash entry, as returned in
        RV(convox.volumes.convox_volume_clean#module:quarantined_to).
        Its root is the directory that holds C(.convox-trash).
    type: str
    required: true
  target:
    description: Overrides the layout recorded at quarantine time.
    type: str
    choices: [rack, local]
  rack:
    description: Overrides the rack recorded at quarantine time.
    type: str
  app:
    description: Overrides the app recorded at quarantine time.
    type: str
  service:
    description: Overrides the service recorded at quarantine time.
    type: str
  path:
    description: Overrides the container path recorded at quarantine time.
    type: str
  lock_timeout:
    description: Age in seconds after which another host's lock counts as stale.
    type: float
    default: 3600
  timeout:
    description:
      - Seconds the volumes root may take to answer (checked in a child process) before the
        task gives up.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    details: Reports where the volume would go; moves nothing.
  diff_mode:
    support: full
    details: Shows the trash entry and the volume directory before and after.
  idempotent:
    support: full
    details: The record is kept as C(<entry>.restored.json), so a second run reports no change.
seealso:
  - module: convox.volumes.convox_volume_clean
"""

EXAMPLES = r"""
---
- name: Quarantine the volume
  convox.volumes.convox_volume_clean:
    rack: r1
    app: a1
    service: db
    path: /var/lib/postgresql/data
    quarantine: true
  register: cleaned

- name: Put it back
  convox.volumes.convox_volume_restore:
    quarantined_to: "{{ cleaned.quarantined_to }}"
"""

RETURN = r"""
host_path:
  description: The volume directory the data was moved back to.
  returned: always
  type: str
  sample: /volumes/r1-a1/db/var/lib/postgresql/data
quarantined_to:
  description: The trash entry that was restored.
  returned: always
  type: str
  sample: /volumes/.convox-trash/20261203T174409Z-r1-a1-db-var-lib-postgresql-data
"""

import os
import posixpath
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.convox.volumes.plugins.module_utils._child import (
    ChildFailed,
    ChildTimeout,
    call_with_timeout,
)
from ansible_collections.convox.volumes.plugins.module_utils._clean import (
    CleanError,
    acquire_lock,
    check_lock_timeout,
    check_restore,
    check_trash_entry,
    read_quarantine_record,
    release_lock,
    resolve_target,
    restore,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import VolumeRuleError

ARGUMENT_SPEC: dict[str, t.Any] = {
    "quarantined_to": {"type": "str", "required": True},
    "target": {"type": "str", "choices": ["rack", "local"]},
    "rack": {"type": "str"},
    "app": {"type": "str"},
    "service": {"type": "str"},
    "path": {"type": "str"},
    "lock_timeout": {"type": "float", "default": 3600},
    "timeout": {"type": "float", "default": 30},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params

    try:
        check_lock_timeout(params["lock_timeout"])
    except CleanError as exc:
        module.fail_json(msg=f"refused, nothing was touched: {exc}")
    try:
        entry, root = check_trash_entry(params["quarantined_to"])
        call_with_timeout(os.lstat, (root,), timeout=params["timeout"])
    except VolumeRuleError as exc:
        module.fail_json(msg=f"refused, nothing was touched: {exc}")
    except ChildTimeout:
        module.fail_json(msg=f"the volumes root {root} did not answer within "
                             f"timeout={params['timeout']:g} s: its file server may be down")
    except ChildFailed as exc:
        module.fail_json(msg=f"the volumes root {root} cannot be reached: {exc}")

    try:
        record = read_quarantine_record(entry)
        wanted = {name: params[name] if params[name] is not None else record.get(name)
                  for name in ("target", "rack", "app", "service")}
        container_path = params["path"] or record.get("container_path")
        if not wanted["app"] or not wanted["service"] or not container_path:
            raise CleanError(f"no record of where {entry} came from ({entry}.json is missing): "
                             f"give app, service, path (and rack, or target=local)")
        volume = resolve_target(target=wanted["target"] or "rack", rack=wanted["rack"],
                                app=wanted["app"], service=wanted["service"],
                                path=container_path, root=root)
    except (CleanError, VolumeRuleError) as exc:
        module.fail_json(msg=f"refused, nothing was touched: {exc}")

    result: dict[str, t.Any] = {"changed": False, "host_path": volume.host_path,
                                "quarantined_to": entry}
    if not os.path.lexists(entry):
        if record.get("restored"):
            module.exit_json(msg=f"{entry} was already restored to {volume.host_path}",
                             **result)
        module.fail_json(msg=f"nothing at quarantined_to {entry}: it was restored or purged "
                             f"already; list the trash with convox.volumes.convox_volume_info",
                         **result)

    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": f"{entry}: volume data\n",
                          "after": f"{volume.host_path}: volume data\n"}
    if module.check_mode:
        try:
            check_restore(volume, entry)
        except CleanError as exc:
            module.fail_json(**{**result, "changed": False, **exc.details, "msg": str(exc)})
        module.exit_json(msg=f"would move {entry} back to {volume.host_path}", **result)

    try:
        lock = acquire_lock(volume.lock_path, params["lock_timeout"],
                            f"restore {volume.host_path}")
        try:
            restore(volume, entry)
        finally:
            problem = release_lock(lock)
            if problem is not None:
                module.warn(problem)
    except CleanError as exc:
        module.fail_json(**{**result, "changed": False, **exc.details, "msg": str(exc)})
    except OSError as exc:
        module.fail_json(**{**result, "changed": False,
                            "msg": f"moving {entry} back to {volume.host_path} failed: {exc}"})
    module.log(f"moved {entry} back to {volume.host_path} "
               f"({posixpath.basename(entry)} record kept as .restored.json)")
    module.exit_json(msg=f"moved {entry} back to {volume.host_path}", **result)


if __name__ == "__main__":
    main()
