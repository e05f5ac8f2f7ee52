#!/bin/sh
# bench/peer.sh - retort vs PyTorch on whole models (see bench/peer.py).
#
#     bench/peer.sh [--threads N] [--rounds R] [--quick] [--only NAME,...] [--build DIR] [--json FILE]
#
# Runs bench/peer.py with Debian's python3-torch (/usr/bin/python3), with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for both sides (PyTorch at
# its best here); peer.py gives the PyTorch servers OMP_WAIT_POLICY=PASSIVE.
set -e
cd "$(dirname "$0")/.."
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
PY=${PYTHON:-/usr/bin/python3}
exec "$PY" bench/peer.py "$@"
