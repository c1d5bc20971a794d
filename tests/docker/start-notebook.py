#!/usr/bin/env python3
"""Stands in for docker-stacks' start-notebook.py in the test image: exec the Jupyter server."""
import os
import sys

port = os.environ.get("JUPYTER_PORT", "8888")
token = os.environ.get("JUPYTER_TOKEN", "")
command = ["jupyter", "server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--no-browser"]
os.execvp(command[0], command + sys.argv[1:])
