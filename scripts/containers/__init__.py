"""The daemon in containers, for real (a step of `make test`):

    BINARY=.build/release/election PYTHONPATH=scripts python3 -m containers

  check_image    docker/Dockerfile's runtime image around the release binary
  check_compose  docker/compose.yaml up: 3 ZooKeeper + 3 replicas, failover, down -v
  check_systemd  deploy/systemd/election.service under systemd as PID 1
  check_kube     the pod templates of deploy/kubernetes/ as pods (podman kube play)

No Docker engine or registry is needed: podman (Debian), a debootstrap image
standing in for debian:bookworm-slim, a ZooKeeper image built from Debian's
package (docker/zookeeper-standin/). podman.py installs and caches all of it;
common.py holds what the checks share. Environment:
  BINARY   the release binary (default .build/release/election)
  CHECKS   groups to run, e.g. "image compose" (default: all four)
The last line is `containers: N passed, M failed, K skipped`; where podman
cannot run at all, every check is skipped with the reason printed."""
