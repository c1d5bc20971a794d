# JupyterHub on a plain Linux host (examples/systemd/jupyterhub.service) whose users' servers are
# transient systemd units made by jupyterhub-systemdspawner (PyPI), each started through roothooks:
# the unit starts as root, roothooks runs the operator's hooks in /etc/roothooks.d as root, creates
# the user's home if missing, then becomes the user with every privilege dropped and execs
# jupyterhub-singleuser. Users are accounts of this host (PAM, LDAP, sssd: whatever NSS names).
import os

c = get_config()  # noqa: F821

# secrets as systemd credentials (LoadCredential= in jupyterhub.service), never in the environment
credentials = os.environ["CREDENTIALS_DIRECTORY"]
c.JupyterHub.cookie_secret_file = os.path.join(credentials, "cookie-secret")
with open(os.path.join(credentials, "proxy-auth-token")) as f:
    c.ConfigurableHTTPProxy.auth_token = f.read().strip()

c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
# The unit starts as root so that roothooks can run the hooks; roothooks, not systemd, becomes the
# user ({USERNAME} is filled in by SystemdSpawner). Without this, SystemdSpawner would start the unit
# as the user, and roothooks would say that it cannot run hooks.
c.SystemdSpawner.username_template = "root"
# roothooks enters the working directory again as the user: / always works, root's home would not
c.SystemdSpawner.user_workingdir = "/"
c.SystemdSpawner.unit_name_template = "jupyter-{USERNAME}-singleuser"
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.cmd = [
    "/usr/local/bin/roothooks",
    "--user", "{USERNAME}",
    "--hooks-dir", "/etc/roothooks.d",
    "--create-home",
    "--",
    "/opt/jupyterhub/bin/jupyterhub-singleuser",
]
