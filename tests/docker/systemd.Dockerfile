# A Debian 12 image that boots systemd as PID 1, for tests/docker.rs (examples/systemd/ units, and a
# JupyterHub whose SystemdSpawner starts each server as a transient unit). Jupyter, the spawner and the
# proxy come from the e2e prefix, mounted read-only, so only what they need to run is installed here.
ARG BASE=roothooks-e2e/bookworm
FROM ${BASE}
# the CA bundle of the machine that builds it (scripts/e2e-images.sh puts it in the context)
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd systemd-sysv dbus \
        libstdc++6 procps >/dev/null && \
    rm -rf /var/lib/apt/lists/* && \
    # nothing a container cannot do: no getty, no udev, no network management
    systemctl mask getty.target systemd-udevd.service systemd-udev-trigger.service \
        systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
        systemd-logind.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
        >/dev/null 2>&1 || true
STOPSIGNAL SIGRTMIN+3
# systemd makes / a shared mount only when it is not in a container; LoadCredential= needs it shared
# (systemd prepares each unit's credentials in a namespace of its own and moves them into /run)
CMD ["/bin/sh", "-c", "mount --make-rshared / && exec /lib/systemd/systemd"]
