# An image shaped like docker-stacks' base-notebook, for tests/docker.rs (no image can be pulled
# here): jovyan is uid 1000 in group users (100), Jupyter lives in /opt/conda (group users, writable),
# NB_USER/NB_UID/NB_GID are set, start-notebook.py starts the server, and the image ends as USER 1000.
# Built by scripts/install-e2e.sh with --network host (pip) from the cached debootstrap image.
ARG BASE=roothooks-e2e/bookworm
FROM ${BASE}
ARG JUPYTER_SERVER_VERSION
# the CA bundle of the machine that builds it (scripts/e2e-images.sh puts it in the context)
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NB_USER=jovyan NB_UID=1000 NB_GID=100 CONDA_DIR=/opt/conda
ENV PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/home/jovyan
RUN python3 -m venv /opt/conda && \
    /opt/conda/bin/pip install -q --disable-pip-version-check "jupyter-server==${JUPYTER_SERVER_VERSION}" && \
    useradd --no-log-init --create-home --shell /bin/bash --uid 1000 --gid 100 jovyan && \
    chgrp -R users /opt/conda && chmod -R g+w /opt/conda
# docker-stacks' start-notebook.py builds the Jupyter command; this one starts jupyter-server on
# JUPYTER_PORT (127.0.0.1, for --network host), with JUPYTER_TOKEN.
COPY start-notebook.py /usr/local/bin/start-notebook.py
RUN chmod 0755 /usr/local/bin/start-notebook.py
USER 1000
WORKDIR /home/jovyan
CMD ["start-notebook.py"]
