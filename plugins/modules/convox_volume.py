#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
---
module: convox_volume
short_description: Lay out the volume directories of Convox apps from their compose files
version_added: 0.1.0
description:
  - Reads the volume entries of one or more apps, given as parsed C(docker-compose.yml)
    documents or as lists of entries per service, and creates the host directory of every
    single-path volume under the volumes root.
  - "On a rack (O(target=rack)) the volume C(/data) of service C(web) of app C(myapp) lives at
    C(<root>/<rack>-myapp/web/data), with O(root) C(/volumes) by default. Locally
    (O(target=local), what C(convox start) uses) it lives at
    C(~/.convox/volumes/myapp/web/data), where C(~) is the home directory of the user the
    module runs as (after become)."
  - Host paths (C(host:container) entries) are used as written and reported; they are created
    only with O(create_host_paths=true), and never below C(/proc), C(/sys), C(/dev), C(/run)
    or C(/var/run), nor for a path named like a socket.
  - Named volumes are reported and left to Docker unless O(named_volumes=namespace). tmpfs
    entries are reported and never created.
  - Every entry of every app is validated before anything is created; one bad entry creates
    nothing. Existing directories and their content are never changed or deleted.
author:
  - convox.volumes contributors (@convox-volumes)
extends_documentation_fragment:
  - convox.volumes.attributes
options:
  rack:
    description:
      - Name of the Convox rack. Required for O(target=rack), unused for O(target=local).
    type: str
  app:
    description:
      - Name of the app whose volumes are laid out, with O(compose) or O(services).
      - Mutually exclusive with O(apps).
    type: str
  services:
    description:
      - Service name to its list of volume entries, in the short (V(/data),
        V(/srv/cfg:/etc/cfg:ro)) or long syntax of compose files.
    type: dict
  compose:
    description:
      - A parsed compose document; its C(services) and top-level C(volumes) are read.
      - Use the P(ansible.builtin.file#lookup) lookup and the
        P(ansible.builtin.from_yaml#filter) filter to read a file on the controller.
    type: dict
  env:
    description:
      - Variables for C(${VAR}), C(${VAR:-default}) and C($VAR) in the entries of O(app).
        C($$) is a literal C($). An unset variable without default is an error.
    type: dict
  project_dir:
    description:
      - Directory of the compose file of O(app), against which relative host paths
        (C(./data)) are resolved with O(target=local).
    type: str
  apps:
    description:
      - Several apps at once, each as O(app), O(compose) or O(services), O(env) and
        O(project_dir) would describe it. One task for many apps is much faster than a loop.
      - Mutually exclusive with O(app), O(services), O(compose), O(env) and O(project_dir).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the app.
        type: str
        required: true
      services:
        description: Service name to its list of volume entries.
        type: dict
      compose:
        description: A parsed compose document.
        type: dict
      env:
        description: Variables for interpolation in this app's entries.
        type: dict
      project_dir:
        description: Directory of this app's compose file.
        type: str
  target:
    description:
      - V(rack) lays out C(<root>/<rack>-<app>/<service>/<path>) for rack instances;
        V(local) lays out C(<root>/<app>/<service>/<path>) for C(convox start).
    type: str
    choices: [rack, local]
    default: rack
  root:
    description:
      - The volumes root. Defaults to C(/volumes) for V(rack) and C(~/.convox/volumes) for
        V(local). A leading C(~) is the home of the user the module runs as.
    type: str
  named_volumes:
    description:
      - V(skip) reports named volumes (C(dbdata:/var/lib/mysql)) and leaves them to Docker,
        with a warning.
      - V(namespace) lays them out like single-path volumes, under the service's directory.
    type: str
    choices: [skip, namespace]
    default: skip
  create_host_paths:
    description:
      - Also create missing host paths of C(host:container) entries, except below C(/proc),
        C(/sys), C(/dev), C(/run), C(/var/run), paths named like sockets and long-syntax
        entries with C(bind.create_host_path=false).
      - A host path that exists (a directory, or a file such as C(/etc/localtime)) is used as
        it is.
    type: bool
    default: false
  owner:
    description:
      - Owner (name or uid) of the directories this module creates.
      - Defaults to the user the module runs as. Existing directories keep their owner.
    type: str
  group:
    description:
      - Group (name or gid) of the directories this module creates.
      - Defaults to the primary group of the user the module runs as.
    type: str
  dir_mode:
    description:
      - Octal permissions of the directories this module creates, such as V('0755') or
        V('2775'). Existing directories keep their mode.
      - Quote it in YAML; an integer is taken as the number it is (unquoted C(0755) is 493,
        which is right; unquoted C(755) is not).
    type: raw
    default: '0755'
  timeout:
    description:
      - Seconds to wait for the file system while looking at the volume paths. A dead NFS or
        EFS server makes even C(stat) block; the paths are looked at in a child process, and
        the task fails after this long, before creating anything.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    details: Reports every volume and the directories it would create; creates nothing.
  diff_mode:
    support: full
    details: The diff lists the directories created (or that would be).
  idempotent:
    support: full
    details: Only missing directories are created; a second run with the same input reports
      no change.
notes:
  - The module never deletes, moves or changes existing files and directories.
  - On a shared root (EFS mounted at C(/volumes)) running once per rack is enough; running
    on every instance is harmless.
seealso:
  - plugin: convox.volumes.compose_volumes
    plugin_type: filter
  - plugin: convox.volumes.volume_path
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Lay out the volumes of one app from its compose file on the controller
  convox.volumes.convox_volume:
    rack: production
    app: myapp
    compose: "{{ lookup('ansible.builtin.file', 'apps/myapp/docker-compose.yml') | from_yaml }}"
    env:
      DATA_DIR: /srv/myapp
  become: true

- name: Give the entries directly
  convox.volumes.convox_volume:
    rack: production
    app: blog
    services:
      web:
        - /var/www/html
        - /etc/ssl/certs:/etc/ssl/certs:ro
      db:
        - dbdata:/var/lib/mysql
    named_volumes: namespace
    owner: "1000"
    dir_mode: "0750"

- name: Many apps in one task, for convox start on this machine
  convox.volumes.convox_volume:
    target: local
    apps:
      - name: blog
        services:
          web: [/var/www/html]
      - name: shop
        compose: "{{ lookup('ansible.builtin.file', 'shop/docker-compose.yml') | from_yaml }}"
        project_dir: "{{ playbook_dir }}/shop"
  register: layout

- name: Show where each volume lives
  ansible.builtin.debug:
    msg: "{{ layout.volumes | map(attribute='host_path') | select | list }}"
"""

RETURN = r"""
volumes:
  description: Every volume entry of every app, after normalisation (duplicates merged).
  returned: always
  type: list
  elements: dict
  contains:
    app:
      description: Name of the app.
      type: str
      returned: always
      sample: myapp
    service:
      description: Name of the service.
      type: str
      returned: always
      sample: web
    source:
      description: Host path or volume name as written (after interpolation); null for
        single-path and tmpfs entries.
      type: str
      returned: always
      sample: /srv/cfg
    container_path:
      description: The normalised path inside the container.
      type: str
      returned: always
      sample: /etc/cfg
    host_path:
      description: Absolute host directory of the volume; null for named volumes left to
        Docker and for tmpfs.
      type: str
      returned: always
      sample: /volumes/production-myapp/web/data
    kind:
      description: V(namespaced) (single path), V(host) (C(host:container)), V(named) or
        V(tmpfs).
      type: str
      returned: always
      sample: namespaced
    read_only:
      description: Whether the entry is mounted read-only (C(ro) or C(read_only)).
      type: bool
      returned: always
      sample: false
    selinux:
      description: SELinux relabelling asked for (V(z) or V(Z)), or null.
      type: str
      returned: always
      sample: z
    created:
      description: Whether this run created the host directory (in check mode, would).
      type: bool
      returned: always
      sample: true
directories:
  description: Directories created by this run (in check mode, that would be), parents first.
  returned: always
  type: list
  elements: str
  sample: [/volumes/production-myapp, /volumes/production-myapp/web]
root:
  description: The volumes root the layout used.
  returned: always
  type: str
  sample: /volumes
not_created:
  description: Host paths that do not exist and were left alone, with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - host_path: /srv/cfg
      reason: a host path, created only with create_host_paths=true
"""

import grp
import os
import pwd
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.convox.volumes.plugins.module_utils._child import (
    ChildFailed,
    ChildTimeout,
    call_with_timeout,
)
from ansible_collections.convox.volumes.plugins.module_utils._compose import ComposeError
from ansible_collections.convox.volumes.plugins.module_utils._layout import (
    NAMED_VOLUME_CHOICES,
    DirectoryPlan,
    Layout,
    create_directories,
    describe_apps,
    mark_created,
    plan_directories,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    TARGETS,
    VolumeRuleError,
    current_user_home,
)

_APP_OPTIONS = ("services", "compose", "env", "project_dir")

ARGUMENT_SPEC: dict[str, t.Any] = dict(
    rack=dict(type="str"),
    app=dict(type="str"),
    services=dict(type="dict"),
    compose=dict(type="dict"),
    env=dict(type="dict"),
    project_dir=dict(type="str"),
    apps=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        services=dict(type="dict"),
        compose=dict(type="dict"),
        env=dict(type="dict"),
        project_dir=dict(type="str"),
    )),
    target=dict(type="str", choices=list(TARGETS), default="rack"),
    root=dict(type="str"),
    named_volumes=dict(type="str", choices=list(NAMED_VOLUME_CHOICES), default="skip"),
    create_host_paths=dict(type="bool", default=False),
    owner=dict(type="str"),
    group=dict(type="str"),
    dir_mode=dict(type="raw", default="0755"),
    timeout=dict(type="float", default=30),
)


def parse_dir_mode(value: object) -> int:
    """'0755', '755', 0o755 or the YAML integer 493 -> 0o755."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value):
        return int(value, 8)
    raise VolumeRuleError(f"dir_mode {value!r} is not an octal mode: quote it, e.g. '0755'")


def resolve_owner(owner: str | None, group: str | None) -> tuple[int, int]:
    """uid and gid to give created directories; -1 keeps what mkdir gives (the module's
    user and its primary group)."""
    uid = gid = -1
    if owner:
        try:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise VolumeRuleError(f"owner {owner!r} is not a user on this host: create it "
                                  f"first or give a numeric uid") from None
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise VolumeRuleError(f"group {group!r} is not a group on this host: create it "
                                  f"first or give a numeric gid") from None
    if uid == os.geteuid():
        uid = -1
    if uid != -1 and os.geteuid() != 0:
        raise VolumeRuleError(f"owner {owner!r} can only be given to new directories by root: "
                              f"run the task with become, or leave 'owner' out")
    if gid not in (-1, os.getegid()) and gid not in os.getgroups() and os.geteuid() != 0:
        raise VolumeRuleError(f"group {group!r} can only be given to new directories by root "
                              f"or a member of it: run the task with become")
    return uid, gid


def plan_in_child(layout: Layout, timeout: float) -> DirectoryPlan:
    """plan_directories in a child process: on a dead NFS server even stat never returns."""
    if timeout <= 0:
        raise VolumeRuleError(f"timeout {timeout:g} is not a number of seconds above 0: give "
                              f"one such as 30")
    try:
        return call_with_timeout(plan_directories, (layout,), timeout=timeout)
    except ChildTimeout:
        raise VolumeRuleError(f"the volume paths under {layout.root} did not answer within "
                              f"timeout={timeout:g} s: the file server of the volumes root may "
                              f"be down; check the mount, or raise 'timeout'") from None
    except ChildFailed as exc:
        if exc.exc_type == VolumeRuleError.__name__:
            raise VolumeRuleError(str(exc)) from None
        raise VolumeRuleError(f"looking at the volume paths failed ({exc.exc_type}): {exc}"
                              ) from None


def apps_from_params(params: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    if params["apps"] is not None:
        return params["apps"]
    return [dict({"name": params["app"]}, **{key: params[key] for key in _APP_OPTIONS})]


def summary(layout: Layout, directories: list[str], check_mode: bool) -> str:
    kinds: dict[str, int] = {}
    for placed in layout.volumes:
        kinds[placed.volume.kind] = kinds.get(placed.volume.kind, 0) + 1
    counted = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    verb = "would create" if check_mode else "created"
    return (f"{len(layout.volumes)} volumes ({counted}) under {layout.root}; {verb} "
            f"{len(directories)} directories")


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("apps", "app"), ("services", "compose")]
        + [("apps", option) for option in _APP_OPTIONS],
        required_one_of=[("apps", "app")],
        supports_check_mode=True,
    )
    params = module.params

    # Validate every input and every entry before looking at the disk.
    try:
        dir_mode = parse_dir_mode(params["dir_mode"])
        uid, gid = resolve_owner(params["owner"], params["group"])
        layout = describe_apps(
            apps_from_params(params), target=params["target"], rack=params["rack"],
            root=params["root"], home=current_user_home(), named_volumes=params["named_volumes"],
            create_host_paths=params["create_host_paths"])
        plan = plan_in_child(layout, params["timeout"])
    except (VolumeRuleError, ComposeError) as exc:
        module.fail_json(msg=f"nothing was created: {exc}")

    # Create what is missing, or in check mode only report it.
    directories = plan.create
    if directories and not module.check_mode:
        try:
            directories = create_directories(plan, mode=dir_mode, uid=uid, gid=gid)
        except OSError as exc:
            module.fail_json(msg=f"creating {exc.filename!r} failed: {exc.strerror}; the "
                                 f"directories before it were created",
                             directories=[path for path in plan.create if os.path.isdir(path)])
    mark_created(layout, directories)

    for warning in layout.warnings:
        module.warn(warning)
    for host_path, reason in plan.not_created:
        module.log(f"host path {host_path} does not exist and was not created: {reason}")
    message = summary(layout, directories, module.check_mode)
    module.log(message)

    result: dict[str, t.Any] = dict(
        changed=bool(directories), msg=message, root=layout.root,
        volumes=[placed.as_result() for placed in layout.volumes], directories=directories,
        not_created=[{"host_path": path, "reason": reason} for path, reason in plan.not_created])
    if module._diff and directories:
        result["diff"] = dict(before="", after="".join(f"{path}\n" for path in directories),
                              before_header=f"{layout.root} (missing directories)",
                              after_header=f"{layout.root} (directories created)")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
