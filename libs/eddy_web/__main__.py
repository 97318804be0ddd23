"""`python -m eddy_web`: serve the dashboard on 127.0.0.1 with your kubeconfig."""

from eddy_web.server import main

main()
