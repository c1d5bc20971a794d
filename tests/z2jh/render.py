"""Render the user pod a Zero to JupyterHub hub would create for a config.yaml, with no cluster.

    python render.py CHART_DIR CONFIG_YAML USER

CHART_DIR holds the chart's own values.yaml, values.schema.yaml, jupyterhub_config.py and z2jh.py (the
project reads them from ../shared/z2jh; they are not copied into it). What the hub does is run, not
rewritten: the example is merged over the chart's defaults the way Helm merges values, checked against
the chart's schema, and the chart's jupyterhub_config.py runs against it with z2jh.py's readers fed
from memory instead of the Secret and ConfigMap the chart mounts. KubeSpawner (the release
scripts/install-e2e.sh pins) then builds the pod with its own get_pod_manifest(); only its API client
is stubbed, and nothing is sent anywhere. The pod is then checked the way the API server would check
it, and deserialized with the kubernetes client into a V1Pod.

Prints one JSON object: {"schema_errors": [...], "render_error": null or why the hub could not build
the pod, "problems": [...], "pod": {...}}.
"""

import asyncio
import importlib.util
import json
import os
import sys
import types
from unittest import mock

import yaml


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def merged_values(chart_dir, config_path, z2jh):
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        defaults = yaml.safe_load(f)
    with open(config_path) as f:
        config = yaml.safe_load(f) or {}
    # Helm merges maps key by key and replaces everything else (lists too), as z2jh's own merge does;
    # then it drops every key whose value is null (how a config.yaml unsets a default); the chart's
    # Secret adds the release and chart names, which the hub's labels use.
    return without_nulls(z2jh._merge_dictionaries(defaults, config))


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def schema_errors(chart_dir, values):
    import jsonschema

    with open(os.path.join(chart_dir, "values.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(values)
    )


def hub_config(chart_dir, values, z2jh):
    """The traitlets config the chart's jupyterhub_config.py makes from these values."""
    from traitlets.config import Config

    # What the chart mounts from its Secret and ConfigMap, given from memory instead.
    z2jh._load_config = lambda: values
    z2jh._get_config_value = lambda key: key  # resource names: the short name is enough here
    z2jh.get_secret_value = lambda key, default="never-explicitly-set": "secret-for-rendering"
    sys.modules["z2jh"] = z2jh
    os.environ.setdefault("PROXY_API_SERVICE_PORT", "8001")
    os.environ.setdefault("HUB_SERVICE_PORT", "8081")
    c = Config()
    path = os.path.join(chart_dir, "jupyterhub_config.py")
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    exec(code, {"get_config": lambda: c, "__file__": path, "__name__": "jupyterhub_config"})
    return c


async def pod_for(config, user_name):
    import kubespawner.spawner
    from kubespawner import KubeSpawner

    user = types.SimpleNamespace(name=user_name, id=1, url=f"/user/{user_name}/", admin=False)
    user.orm_user = user
    hub = types.SimpleNamespace(
        public_host="", url="http://hub:8081/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
    )
    # the only stub: no Kubernetes API client is configured or created
    with mock.patch.object(kubespawner.spawner, "load_config"), mock.patch.object(
        kubespawner.spawner, "shared_client"
    ):
        spawner = KubeSpawner(config=config, user=user, hub=hub, _mock=True)
        spawner.api_token = "token-for-rendering"
        pod = await spawner.get_pod_manifest()
    from kubernetes_asyncio.client import ApiClient

    async with ApiClient() as api:
        return api.sanitize_for_serialization(pod)


def capabilities_added(context):
    caps = (context or {}).get("capabilities") or {}
    return {c.upper().removeprefix("CAP_") for c in caps.get("add") or []}


def quantities_as_text(pod):
    """KubeSpawner writes byte counts as JSON numbers, which the API server reads as quantities; the
    Python client's models take quantities only as strings."""
    pod = json.loads(json.dumps(pod))
    spec = pod.get("spec", {})
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for part in ("limits", "requests"):
            amounts = (c.get("resources") or {}).get(part) or {}
            for key, amount in amounts.items():
                if isinstance(amount, (int, float)):
                    amounts[key] = str(amount)
    return pod


def problems(pod, values):
    """What the API server (or common sense about a user pod) would reject."""
    found = []
    spec = pod.get("spec", {})
    volumes = spec.get("volumes") or []
    names = [v.get("name") for v in volumes]
    for name in {n for n in names if names.count(n) > 1}:
        found.append(f"volume name {name!r} is used twice")
    containers = [("container", c) for c in spec.get("containers") or []]
    containers += [("initContainer", c) for c in spec.get("initContainers") or []]
    cnames = [c.get("name") for _, c in containers]
    for name in {n for n in cnames if cnames.count(n) > 1}:
        found.append(f"container name {name!r} is used twice")
    for kind, c in containers:
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in names:
                found.append(
                    f"{kind} {c.get('name')!r} mounts volume {m.get('name')!r} at {m.get('mountPath')}, "
                    f"but the pod has no such volume (it has {sorted(names)})"
                )
        sc = c.get("securityContext") or {}
        for field in ("runAsUser", "runAsGroup"):
            if field in sc and sc[field] is not None and not (isinstance(sc[field], int) and sc[field] >= 0):
                found.append(f"{kind} {c.get('name')!r}: securityContext.{field} {sc[field]!r} is not a uid")
        for field in ("privileged", "allowPrivilegeEscalation", "runAsNonRoot", "readOnlyRootFilesystem"):
            if field in sc and sc[field] is not None and not isinstance(sc[field], bool):
                found.append(f"{kind} {c.get('name')!r}: securityContext.{field} {sc[field]!r} is not a boolean")
        if sc.get("allowPrivilegeEscalation") is False:
            if sc.get("privileged"):
                found.append(
                    f"{kind} {c.get('name')!r}: cannot set allowPrivilegeEscalation to false and privileged to true"
                )
            if "SYS_ADMIN" in capabilities_added(sc):
                found.append(
                    f"{kind} {c.get('name')!r}: cannot set allowPrivilegeEscalation to false and "
                    "capabilities.Add CAP_SYS_ADMIN"
                )
        if sc.get("runAsNonRoot") and sc.get("runAsUser") == 0:
            found.append(f"{kind} {c.get('name')!r}: runAsNonRoot with runAsUser 0 can never start")
    # the user's home: the PVC the chart asks KubeSpawner for, present and mounted in the server
    storage = values["singleuser"]["storage"]
    if storage["type"] in ("dynamic", "static"):
        claims = [v for v in volumes if "persistentVolumeClaim" in v]
        if not claims:
            found.append("the home volume (a persistentVolumeClaim) is missing from the pod's volumes")
        main = (spec.get("containers") or [{}])[0]
        home = storage["homeMountPath"]
        mounted = {m.get("name") for m in main.get("volumeMounts") or [] if m.get("mountPath") == home}
        if not mounted & {v.get("name") for v in claims}:
            found.append(f"the server's container does not mount the home volume at {home}")
    try:
        import kubernetes.client

        kubernetes.client.ApiClient().deserialize(json.dumps(quantities_as_text(pod)), "V1Pod", "application/json")
    except Exception as e:  # what the client cannot read, the API server would not either
        found.append(f"not a valid V1Pod: {e}")
    return found


def main():
    chart_dir, config_path, user_name = sys.argv[1:4]
    z2jh = load_module("z2jh", os.path.join(chart_dir, "z2jh.py"))
    values = merged_values(chart_dir, config_path, z2jh)
    errors = schema_errors(chart_dir, values)
    # the chart's config prints what it loads; keep stdout for the result
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    result = {"schema_errors": errors, "render_error": None, "problems": [], "pod": None}
    try:
        # what the chart's Secret adds to the values: the release's and chart's names, for labels
        secret = dict(values, Release={"Name": "jupyterhub"}, Chart={"Name": "jupyterhub"})
        config = hub_config(chart_dir, secret, z2jh)
        result["pod"] = asyncio.run(pod_for(config, user_name))
        result["problems"] = problems(result["pod"], values)
    except Exception as e:  # a hub that cannot start its spawner with these values: say why
        result["render_error"] = f"{type(e).__name__}: {e}"
    finally:
        sys.stdout = real_stdout
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
